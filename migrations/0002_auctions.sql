-- Live English auctions (拍卖 / 网络竞价): terms and outcome, admitted bidders, the
-- append-only event log every book is rebuilt from, and idempotency keys of bid requests.

CREATE TABLE auctions (
    id             bigserial PRIMARY KEY,
    listing_id     bigint NOT NULL REFERENCES listings (id),
    currency       char(3) NOT NULL,
    start_price    bigint NOT NULL CHECK (start_price > 0),
    reserve        bigint CHECK (reserve IS NULL OR reserve > 0),
    increments     jsonb NOT NULL,
    opens_at       timestamptz NOT NULL,
    scheduled_end  timestamptz NOT NULL,
    quiet_period_s integer NOT NULL CHECK (quiet_period_s > 0),
    hard_cap       timestamptz,
    status         text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'open', 'closed')),
    -- the durable timer: when the lot must next be looked at (opening, then the close)
    next_deadline  timestamptz,
    last_seq       bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    state_hash     text NOT NULL,
    scheduled_by   bigint NOT NULL REFERENCES accounts (id),
    created_at     timestamptz NOT NULL,
    sold           boolean,
    winner_id      bigint REFERENCES accounts (id),
    price          bigint CHECK (price IS NULL OR price > 0),
    closed_at      timestamptz,
    CHECK (scheduled_end > opens_at),
    CHECK (hard_cap IS NULL OR hard_cap >= scheduled_end),
    CHECK (status <> 'closed' OR (sold IS NOT NULL AND closed_at IS NOT NULL AND next_deadline IS NULL)),
    CHECK (sold IS NOT TRUE OR (winner_id IS NOT NULL AND price IS NOT NULL))
);
CREATE UNIQUE INDEX auctions_one_live_per_listing ON auctions (listing_id) WHERE status <> 'closed';
CREATE INDEX auctions_due ON auctions (next_deadline) WHERE status <> 'closed';

CREATE TABLE auction_bidders (
    auction_id  bigint NOT NULL REFERENCES auctions (id),
    account_id  bigint NOT NULL REFERENCES accounts (id),
    code        text NOT NULL,
    approved_by bigint NOT NULL REFERENCES accounts (id),
    approved_at timestamptz NOT NULL,
    PRIMARY KEY (auction_id, account_id),
    UNIQUE (auction_id, code)
);

CREATE TABLE auction_events (
    auction_id  bigint NOT NULL REFERENCES auctions (id),
    seq         bigint NOT NULL CHECK (seq > 0),
    kind        text NOT NULL CHECK (kind IN ('admitted', 'opened', 'bid', 'closed')),
    payload     jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (auction_id, seq)
);

CREATE FUNCTION auction_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auction_events is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER auction_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON auction_events
    FOR EACH ROW EXECUTE FUNCTION auction_events_append_only();
CREATE TRIGGER auction_events_no_truncate
    BEFORE TRUNCATE ON auction_events
    FOR EACH STATEMENT EXECUTE FUNCTION auction_events_append_only();

-- The first answer to a bid request, replayed for the same key and refused for another body.
CREATE TABLE bid_requests (
    account_id      bigint NOT NULL REFERENCES accounts (id),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 100),
    auction_id      bigint NOT NULL REFERENCES auctions (id),
    request_hash    text NOT NULL,
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, idempotency_key)
);
