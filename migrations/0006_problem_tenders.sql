-- Problem tenders (难题招标 / 揭榜挂帅): a tender whose owner escrows a budget that is released to
-- the winner (the solver) milestone by milestone, on the owner's acceptance or an operator's
-- arbitration of the solver's objection; what is left at the end is refunded to the owner.

CREATE TABLE problem_tenders (
    tender_id        bigint PRIMARY KEY REFERENCES tenders (id),
    budget           bigint NOT NULL CHECK (budget > 0),
    currency         char(3) NOT NULL,
    -- the bank-transfer reference the owner quotes when escrowing the budget
    reference_code   text NOT NULL UNIQUE,
    status           text NOT NULL CHECK (status IN ('unfunded', 'funded', 'completed', 'cancelled')),
    created_at       timestamptz NOT NULL,
    funded_at        timestamptz,
    funded_by        bigint REFERENCES accounts (id),
    closed_at        timestamptz,
    refunded         bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    refund_payout_id bigint REFERENCES payouts (id),
    CHECK (status = 'unfunded' OR status = 'cancelled' OR funded_at IS NOT NULL),
    CHECK ((status IN ('completed', 'cancelled')) = (closed_at IS NOT NULL))
);

CREATE TABLE problem_milestones (
    tender_id     bigint NOT NULL REFERENCES problem_tenders (tender_id),
    seq           integer NOT NULL CHECK (seq BETWEEN 1 AND 20),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    criteria      text NOT NULL CHECK (length(criteria) BETWEEN 1 AND 2000),
    share         bigint NOT NULL CHECK (share > 0),
    due_on        date NOT NULL,
    status        text NOT NULL CHECK (status IN (
        'open', 'submitted', 'rejected', 'objected', 'upheld', 'accepted', 'cancelled')),
    deliverable   text NOT NULL DEFAULT '' CHECK (length(deliverable) <= 5000),
    submitted_at  timestamptz,
    -- submitted: the owner decides by then; rejected: the solver may object until then
    window_until  timestamptz,
    accepted_at   timestamptz,
    released_by   text CHECK (released_by IN ('owner', 'arbitration')),
    payout_id     bigint REFERENCES payouts (id),
    PRIMARY KEY (tender_id, seq),
    CHECK ((status = 'accepted') = (accepted_at IS NOT NULL AND released_by IS NOT NULL))
);

-- Each step on a milestone, with its note (deliverable, reasons, grounds, ruling); append-only.
CREATE TABLE problem_steps (
    id         bigserial PRIMARY KEY,
    tender_id  bigint NOT NULL,
    seq        integer NOT NULL,
    step       text NOT NULL CHECK (step IN ('submitted', 'accepted', 'rejected', 'objected', 'released', 'upheld')),
    actor_id   bigint NOT NULL REFERENCES accounts (id),
    note       text NOT NULL CHECK (length(note) <= 5000),
    at         timestamptz NOT NULL,
    FOREIGN KEY (tender_id, seq) REFERENCES problem_milestones (tender_id, seq)
);
CREATE INDEX problem_steps_milestone ON problem_steps (tender_id, seq, id);
CREATE TRIGGER problem_steps_no_update_or_delete
    BEFORE UPDATE OR DELETE ON problem_steps
    FOR EACH ROW EXECUTE FUNCTION settlement_append_only();

ALTER TABLE payments DROP CONSTRAINT payments_purpose_check;
ALTER TABLE payments ADD CONSTRAINT payments_purpose_check CHECK (purpose IN ('deposit', 'balance', 'escrow'));
ALTER TABLE payouts DROP CONSTRAINT payouts_purpose_check;
ALTER TABLE payouts ADD CONSTRAINT payouts_purpose_check
    CHECK (purpose IN ('proceeds', 'forfeit_share', 'refund', 'milestone'));
