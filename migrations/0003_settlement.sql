-- Escrow and settlement: a double-entry ledger of two-phase transfers, deposits (保证金),
-- payments received, trades from close to release, payouts, transaction certificates
-- (交易凭证) and the Stripe events already applied.

-- Balances are kept per account and updated in the same transaction as the transfer that
-- moves them; a limit is a CHECK, so no code path can take an account past it.
CREATE TABLE ledger_accounts (
    id              bigserial PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 100),
    currency        char(3) NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('bank', 'card', 'investor', 'seller', 'escrow', 'revenue')),
    owner_id        bigint REFERENCES accounts (id),
    -- 'debits_le_credits': a liability that must not go negative (what we owe a party);
    -- 'credits_le_debits': money held at a bank or card processor that must not go negative.
    balance_limit   text NOT NULL CHECK (balance_limit IN ('debits_le_credits', 'credits_le_debits')),
    debits_pending  bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    created_at      timestamptz NOT NULL,
    CONSTRAINT ledger_account_limit CHECK (
        (balance_limit = 'debits_le_credits' AND debits_pending + debits_posted <= credits_posted)
        OR (balance_limit = 'credits_le_debits' AND credits_pending + credits_posted <= debits_posted)
    )
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id);

CREATE TABLE ledger_transfers (
    id                text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 120),
    flow              text NOT NULL CHECK (flow IN ('posted', 'pending', 'post_pending', 'void_pending')),
    debit_account_id  bigint NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id bigint NOT NULL REFERENCES ledger_accounts (id),
    amount            bigint NOT NULL CHECK (amount > 0),
    currency          char(3) NOT NULL,
    pending_id        text REFERENCES ledger_transfers (id),
    memo              text NOT NULL CHECK (length(memo) <= 200),
    deposit_id        bigint,
    trade_id          bigint,
    created_at        timestamptz NOT NULL,
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((flow IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL))
);
-- A pending transfer is posted or voided at most once: the second attempt cannot insert.
CREATE UNIQUE INDEX ledger_transfers_resolved_once ON ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id);
CREATE INDEX ledger_transfers_deposit ON ledger_transfers (deposit_id) WHERE deposit_id IS NOT NULL;
CREATE INDEX ledger_transfers_trade ON ledger_transfers (trade_id) WHERE trade_id IS NOT NULL;

CREATE FUNCTION settlement_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER ledger_transfers_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION settlement_append_only();
CREATE TRIGGER ledger_transfers_no_truncate
    BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION settlement_append_only();

-- An investor's deposit for one auction: due after qualification, held, then applied to the
-- price (winner), released (others), forfeited (a winner who defaults) or lapsed (never paid).
CREATE TABLE deposits (
    id                bigserial PRIMARY KEY,
    auction_id        bigint NOT NULL REFERENCES auctions (id),
    investor_id       bigint NOT NULL REFERENCES accounts (id),
    amount            bigint NOT NULL CHECK (amount > 0),
    currency          char(3) NOT NULL,
    reference_code    text NOT NULL UNIQUE,
    status            text NOT NULL CHECK (status IN ('due', 'held', 'applied', 'released', 'forfeited', 'lapsed')),
    provider          text CHECK (provider IN ('offline', 'stripe')),
    due_at            timestamptz NOT NULL,
    qualified_by      bigint NOT NULL REFERENCES accounts (id),
    created_at        timestamptz NOT NULL,
    held_at           timestamptz,
    resolved_at       timestamptz,
    -- a card deposit is an uncaptured PaymentIntent; releasing it is a cancellation
    payment_intent    text UNIQUE,
    checkout_session  text UNIQUE,
    -- a release or capture decided but not yet confirmed by the card processor
    card_action       text CHECK (card_action IN ('capture', 'cancel')),
    UNIQUE (auction_id, investor_id),
    CHECK (status IN ('due', 'lapsed') OR held_at IS NOT NULL)
);
CREATE INDEX deposits_investor ON deposits (investor_id);
CREATE INDEX deposits_due ON deposits (due_at) WHERE status = 'due';

-- Money that reached the exchange: a bank transfer an operator matched against the
-- statement, or a card payment. One external reference is recorded once.
CREATE TABLE payments (
    id            bigserial PRIMARY KEY,
    provider      text NOT NULL CHECK (provider IN ('offline', 'stripe')),
    external_ref  text NOT NULL CHECK (length(external_ref) BETWEEN 1 AND 100),
    purpose       text NOT NULL CHECK (purpose IN ('deposit', 'balance')),
    payer_id      bigint NOT NULL REFERENCES accounts (id),
    amount        bigint NOT NULL CHECK (amount > 0),
    currency      char(3) NOT NULL,
    deposit_id    bigint REFERENCES deposits (id),
    trade_id      bigint,
    transfer_id   text NOT NULL REFERENCES ledger_transfers (id),
    confirmed_by  bigint REFERENCES accounts (id),
    received_at   timestamptz NOT NULL,
    UNIQUE (provider, external_ref)
);
CREATE INDEX payments_payer ON payments (payer_id);

CREATE SEQUENCE certificate_no_seq;

-- A sale from the close of an auction to the release of the price to the seller.
CREATE TABLE trades (
    id                    bigserial PRIMARY KEY,
    auction_id            bigint NOT NULL REFERENCES auctions (id),
    round                 integer NOT NULL DEFAULT 1 CHECK (round >= 1),
    listing_id            bigint NOT NULL REFERENCES listings (id),
    seller_id             bigint NOT NULL REFERENCES accounts (id),
    buyer_id              bigint NOT NULL REFERENCES accounts (id),
    price                 bigint NOT NULL CHECK (price > 0),
    currency              char(3) NOT NULL,
    deposit_id            bigint REFERENCES deposits (id),
    deposit_applied       bigint NOT NULL CHECK (deposit_applied >= 0),
    buyer_fee             bigint NOT NULL CHECK (buyer_fee >= 0),
    seller_fee            bigint NOT NULL CHECK (seller_fee >= 0),
    reference_code        text NOT NULL UNIQUE,
    status                text NOT NULL CHECK (status IN (
        'awaiting_contract', 'awaiting_balance', 'awaiting_delivery', 'delivered', 'released', 'forfeited',
        'rescinded')),
    created_at            timestamptz NOT NULL,
    contract_due          timestamptz NOT NULL,
    balance_due           timestamptz NOT NULL,
    contract_confirmed_at timestamptz,
    balance_paid_at       timestamptz,
    delivered_at          timestamptz,
    delivery_note         text NOT NULL DEFAULT '' CHECK (length(delivery_note) <= 2000),
    objection_due         timestamptz,
    objection             text NOT NULL DEFAULT '' CHECK (length(objection) <= 2000),
    objected_at           timestamptz,
    -- the operator's arbitration of an objection: release to the seller, or rescind and refund
    objection_outcome     text CHECK (objection_outcome IN ('release', 'rescind')),
    objection_ruling      text NOT NULL DEFAULT '' CHECK (length(objection_ruling) <= 2000),
    ruled_by              bigint REFERENCES accounts (id),
    accepted_at           timestamptz,
    released_at           timestamptz,
    forfeited_at          timestamptz,
    forfeit_reason        text NOT NULL DEFAULT '',
    -- after a forfeiture the operator decides: offer to the next bidder, or relist
    next_step             text CHECK (next_step IN ('next_bidder', 'relist')),
    next_step_by          bigint REFERENCES accounts (id),
    UNIQUE (auction_id, round),
    CHECK (buyer_id <> seller_id),
    CHECK (deposit_applied <= price)
);
CREATE INDEX trades_buyer ON trades (buyer_id);
CREATE INDEX trades_seller ON trades (seller_id);
CREATE INDEX trades_open ON trades (status) WHERE status NOT IN ('released', 'forfeited', 'rescinded');

-- Money leaving the exchange: a seller's proceeds, a forfeiture share, a refund (a released
-- deposit, a rescinded trade). Offline payouts are sent by an operator and marked sent.
CREATE TABLE payouts (
    id            bigserial PRIMARY KEY,
    payee_id      bigint NOT NULL REFERENCES accounts (id),
    purpose       text NOT NULL CHECK (purpose IN ('proceeds', 'forfeit_share', 'refund')),
    amount        bigint NOT NULL CHECK (amount > 0),
    currency      char(3) NOT NULL,
    provider      text NOT NULL CHECK (provider IN ('offline', 'stripe')),
    status        text NOT NULL CHECK (status IN ('to_send', 'sent')),
    trade_id      bigint REFERENCES trades (id),
    deposit_id    bigint REFERENCES deposits (id),
    transfer_id   text NOT NULL UNIQUE REFERENCES ledger_transfers (id),
    external_ref  text,
    created_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    sent_by       bigint REFERENCES accounts (id),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX payouts_payee ON payouts (payee_id);
CREATE INDEX payouts_to_send ON payouts (created_at) WHERE status = 'to_send';

-- Where a party is paid by card processor transfers (Stripe Connect), its connected account.
CREATE TABLE payout_accounts (
    account_id        bigint PRIMARY KEY REFERENCES accounts (id),
    stripe_account    text NOT NULL CHECK (stripe_account ~ '^acct_[A-Za-z0-9]{1,64}$'),
    recorded_by       bigint NOT NULL REFERENCES accounts (id),
    recorded_at       timestamptz NOT NULL
);

CREATE TABLE certificates (
    number     text PRIMARY KEY,
    trade_id   bigint NOT NULL UNIQUE REFERENCES trades (id),
    issued_at  timestamptz NOT NULL,
    body       jsonb NOT NULL,
    digest     text NOT NULL
);
CREATE TRIGGER certificates_no_update_or_delete
    BEFORE UPDATE OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION settlement_append_only();

-- Each Stripe event is applied once, however often it is delivered.
CREATE TABLE stripe_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL
);

-- Reference codes investors quote on bank transfers: D… for deposits, T… for trade balances.
CREATE SEQUENCE payment_reference_seq;
