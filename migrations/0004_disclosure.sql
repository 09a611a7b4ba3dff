-- Public disclosure (公示): every public fact is a record in one append-only hash chain.
-- Each record holds the hash of the one before it; a correction is a new record naming
-- the record it corrects. Nothing here is ever updated or deleted.

CREATE TABLE disclosures (
    seq          bigint PRIMARY KEY CHECK (seq > 0),
    kind         text NOT NULL CHECK (kind IN (
                     'listing_announcement', 'auction_notice', 'deal_announcement', 'auction_failed',
                     'transaction_certificate', 'objection_outcome', 'tender_candidates', 'tender_award')),
    procedure    text NOT NULL CHECK (length(procedure) BETWEEN 1 AND 60),
    -- what the record is about within its procedure (an auction, a trade, a certificate);
    -- a fact is published once, so a repeated step cannot publish it twice
    subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 60),
    published_at timestamptz NOT NULL,
    open_until   timestamptz,
    corrects     bigint REFERENCES disclosures (seq),
    body         jsonb NOT NULL,
    prev_hash    text NOT NULL UNIQUE CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash         text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    CHECK (corrects IS NULL OR corrects < seq)
);
CREATE UNIQUE INDEX disclosures_published_once ON disclosures (kind, subject) WHERE corrects IS NULL;
CREATE INDEX disclosures_procedure ON disclosures (procedure, seq);
CREATE INDEX disclosures_kind ON disclosures (kind, seq);
CREATE INDEX disclosures_corrects ON disclosures (corrects) WHERE corrects IS NOT NULL;

CREATE FUNCTION disclosures_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'disclosures is append-only: % refused; publish a correction instead', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER disclosures_no_update_or_delete
    BEFORE UPDATE OR DELETE ON disclosures
    FOR EACH ROW EXECUTE FUNCTION disclosures_append_only();
CREATE TRIGGER disclosures_no_truncate
    BEFORE TRUNCATE ON disclosures
    FOR EACH STATEMENT EXECUTE FUNCTION disclosures_append_only();
