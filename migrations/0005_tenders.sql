-- Tenders (招标): the announcement, questions and objections, bid securities, sealed
-- proposals (encrypted, with their commitment), the sealed book's event log, the
-- evaluation committee's scores, candidates, award and contract.

CREATE SEQUENCE tender_reference_seq;

CREATE TABLE tenders (
    id                  bigserial PRIMARY KEY,
    reference_no        text NOT NULL UNIQUE,
    owner_id            bigint NOT NULL REFERENCES accounts (id),
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    summary             text NOT NULL CHECK (length(summary) BETWEEN 1 AND 5000),
    documents           jsonb NOT NULL DEFAULT '[]',
    evaluation          text NOT NULL CHECK (evaluation IN ('price', 'weighted')),
    price_weight        integer NOT NULL CHECK (price_weight BETWEEN 1000 AND 10000),
    estimate            bigint NOT NULL CHECK (estimate > 0),
    currency            char(3) NOT NULL,
    security_amount     bigint NOT NULL CHECK (security_amount >= 0),
    documents_issued_at timestamptz NOT NULL,
    deadline            timestamptz NOT NULL,
    questions_until     timestamptz NOT NULL,
    status              text NOT NULL CHECK (status IN (
        'submitted', 'returned', 'open', 'retender', 'opened', 'candidates', 'awarded', 'contracted')),
    return_reasons      text NOT NULL DEFAULT '',
    retender_of         bigint REFERENCES tenders (id),
    -- the tender's X25519 key pair: the private half only wrapped by the exchange's key
    public_key          bytea NOT NULL,
    wrapped_key         bytea NOT NULL,
    created_at          timestamptz NOT NULL,
    reviewed_by         bigint REFERENCES accounts (id),
    published_at        timestamptz,
    opened_at           timestamptz,
    -- committee member names: secret until the award
    committee           jsonb,
    ranked_at           timestamptz,
    candidates          jsonb,
    candidates_until    timestamptz,
    awarded_at          timestamptz,
    winner_id           bigint REFERENCES accounts (id),
    award_price         bigint,
    contract_due        timestamptz,
    contract_note       text NOT NULL DEFAULT '' CHECK (length(contract_note) <= 2000),
    contracted_at       timestamptz,
    CHECK (deadline > documents_issued_at),
    CHECK (security_amount * 50 <= estimate OR security_amount = 0)
);
CREATE INDEX tenders_status ON tenders (status);
CREATE INDEX tenders_owner ON tenders (owner_id);

-- The sealed book's events (matching_core SealedBook), from which it is rebuilt.
CREATE TABLE tender_events (
    tender_id  bigint NOT NULL REFERENCES tenders (id),
    seq        integer NOT NULL CHECK (seq >= 1),
    body       jsonb NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (tender_id, seq)
);
CREATE TRIGGER tender_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON tender_events
    FOR EACH ROW EXECUTE FUNCTION settlement_append_only();

-- A sealed proposal: the ciphertext and the commitment until the opening; the price,
-- technical text and nonce are written only when it is revealed at the opening.
CREATE TABLE tender_proposals (
    id              bigserial PRIMARY KEY,
    tender_id       bigint NOT NULL REFERENCES tenders (id),
    bidder_id       bigint NOT NULL REFERENCES accounts (id),
    commitment      text NOT NULL CHECK (commitment ~ '^[0-9a-f]{64}$'),
    sealed          bytea NOT NULL,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 100),
    request_mac     text NOT NULL,
    submitted_at    timestamptz NOT NULL,
    price           bigint,
    technical       text,
    nonce           text,
    revealed_at     timestamptz,
    UNIQUE (tender_id, bidder_id)
);

CREATE TABLE tender_securities (
    id             bigserial PRIMARY KEY,
    tender_id      bigint NOT NULL REFERENCES tenders (id),
    bidder_id      bigint NOT NULL REFERENCES accounts (id),
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       char(3) NOT NULL,
    reference_code text NOT NULL UNIQUE,
    status         text NOT NULL CHECK (status IN ('due', 'held', 'refunded', 'lapsed')),
    created_at     timestamptz NOT NULL,
    held_at        timestamptz,
    refunded_at    timestamptz,
    payout_id      bigint REFERENCES payouts (id),
    UNIQUE (tender_id, bidder_id),
    CHECK (status IN ('due', 'lapsed') OR held_at IS NOT NULL),
    CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);

-- Questions and objections on the announcement, objections to the candidates; answers are public.
CREATE TABLE tender_questions (
    id          bigserial PRIMARY KEY,
    tender_id   bigint NOT NULL REFERENCES tenders (id),
    author_id   bigint NOT NULL REFERENCES accounts (id),
    kind        text NOT NULL CHECK (kind IN ('question', 'objection')),
    stage       text NOT NULL CHECK (stage IN ('announcement', 'candidates')),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    asked_at    timestamptz NOT NULL,
    answer_due  timestamptz,
    answer      text CHECK (length(answer) <= 2000),
    answered_by bigint REFERENCES accounts (id),
    answered_at timestamptz,
    CHECK ((answer IS NULL) = (answered_at IS NULL))
);
CREATE INDEX tender_questions_tender ON tender_questions (tender_id, id);

-- Each committee member's technical score (0..100 points) for each proposal.
CREATE TABLE tender_scores (
    tender_id  bigint NOT NULL REFERENCES tenders (id),
    member     integer NOT NULL CHECK (member >= 0),
    bidder_id  bigint NOT NULL REFERENCES accounts (id),
    score      integer NOT NULL CHECK (score BETWEEN 0 AND 100),
    scored_at  timestamptz NOT NULL,
    PRIMARY KEY (tender_id, member, bidder_id)
);
