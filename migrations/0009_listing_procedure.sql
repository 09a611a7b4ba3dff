-- The listing procedure after the announcement (意向登记, 资格确认, 保证金, the outcome rule),
-- agreement pricing with notice (协议定价公示), one-time sealed and weighted quotes, and sales
-- that do not come from an auction.

-- Listings: every step from the announcement to the deal.
--   announced   the announcement period runs; investors register intent
--   suspended   the clock is paused (at most a month)
--   qualifying  the period ended: intents are qualified, qualified buyers pay deposits
--   unsold      no qualified, deposited buyer: the institution extends or relists
--   agreement   one: the buyer confirms a quote at or above the listing price
--   competition two or more: English auction, one-time sealed quote or weighted quote
--   dealt       a trade was opened
--   relisted    replaced by a new listing
ALTER TABLE listings DROP CONSTRAINT listings_status_check;
ALTER TABLE listings ADD CONSTRAINT listings_status_check CHECK (status IN (
    'submitted', 'returned', 'announced', 'suspended', 'qualifying', 'unsold', 'agreement',
    'competition', 'dealt', 'relisted', 'withdrawn'));
ALTER TABLE listings
    ADD COLUMN suspended_at       timestamptz,
    ADD COLUMN resume_by          timestamptz,
    ADD COLUMN suspension_reason  text NOT NULL DEFAULT '' CHECK (length(suspension_reason) <= 2000),
    ADD COLUMN extensions         integer NOT NULL DEFAULT 0 CHECK (extensions >= 0),
    ADD COLUMN qualification_due  timestamptz,
    ADD COLUMN outcome_at         timestamptz,
    ADD COLUMN agreement_due      timestamptz,
    ADD COLUMN relisted_from      bigint REFERENCES listings (id),
    ADD COLUMN below_floor_approved_by bigint REFERENCES accounts (id),
    -- weighted quote (综合评议): the weight of price in the score, basis points
    ADD COLUMN price_weight_bp    integer NOT NULL DEFAULT 6000 CHECK (price_weight_bp BETWEEN 1000 AND 10000),
    ADD CONSTRAINT listings_suspension CHECK (status <> 'suspended' OR (suspended_at IS NOT NULL AND resume_by IS NOT NULL));
CREATE UNIQUE INDEX listings_relisted_once ON listings (relisted_from) WHERE relisted_from IS NOT NULL;

-- An investor's registration of intent (意向登记) during the announcement period, the
-- institution's comment and the operator's decision against the published conditions.
CREATE TABLE listing_intents (
    id               bigserial PRIMARY KEY,
    listing_id       bigint NOT NULL REFERENCES listings (id),
    investor_id      bigint NOT NULL REFERENCES accounts (id),
    statement        text NOT NULL CHECK (length(statement) BETWEEN 1 AND 2000),
    registered_at    timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN ('registered', 'qualified', 'refused', 'withdrawn')),
    comment          text NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    commented_at     timestamptz,
    decided_by       bigint REFERENCES accounts (id),
    decided_at       timestamptz,
    reasons          text NOT NULL DEFAULT '' CHECK (length(reasons) <= 2000),
    -- the numbers (1-based) of the published bidder conditions a refused investor does not meet
    unmet_conditions integer[] NOT NULL DEFAULT '{}',
    UNIQUE (listing_id, investor_id),
    CHECK (status <> 'refused' OR (cardinality(unmet_conditions) > 0 AND reasons <> '')),
    CHECK (status IN ('registered', 'withdrawn') OR decided_at IS NOT NULL)
);
CREATE INDEX listing_intents_investor ON listing_intents (investor_id);

-- A change of a listing's terms during its announcement (变更): approved, it restarts the period.
CREATE TABLE listing_changes (
    id            bigserial PRIMARY KEY,
    listing_id    bigint NOT NULL REFERENCES listings (id),
    requested_at  timestamptz NOT NULL,
    changes       jsonb NOT NULL,
    reasons       text NOT NULL CHECK (length(reasons) BETWEEN 1 AND 2000),
    status        text NOT NULL CHECK (status IN ('requested', 'approved', 'rejected')),
    decided_by    bigint REFERENCES accounts (id),
    decided_at    timestamptz,
    decision_note text NOT NULL DEFAULT '' CHECK (length(decision_note) <= 2000)
);
CREATE UNIQUE INDEX listing_changes_one_open ON listing_changes (listing_id) WHERE status = 'requested';

-- Deposits belong to a listing; to an auction too once its bidding is an auction.
ALTER TABLE deposits ADD COLUMN listing_id bigint REFERENCES listings (id);
UPDATE deposits d SET listing_id = a.listing_id FROM auctions a WHERE a.id = d.auction_id;
ALTER TABLE deposits ALTER COLUMN listing_id SET NOT NULL;
ALTER TABLE deposits ALTER COLUMN auction_id DROP NOT NULL;
CREATE UNIQUE INDEX deposits_one_per_listing_buyer ON deposits (listing_id, investor_id) WHERE auction_id IS NULL;
CREATE INDEX deposits_listing ON deposits (listing_id);

-- Agreement pricing with notice (协议定价 + 公示).
CREATE SEQUENCE agreement_reference_seq;

CREATE TABLE agreements (
    id                  bigserial PRIMARY KEY,
    reference_no        text NOT NULL UNIQUE,
    achievement_id      bigint NOT NULL REFERENCES achievements (id),
    seller_id           bigint NOT NULL REFERENCES accounts (id),
    buyer_id            bigint NOT NULL REFERENCES accounts (id),
    price               bigint NOT NULL CHECK (price > 0),
    currency            char(3) NOT NULL,
    transfer_mode       text NOT NULL CHECK (transfer_mode IN ('assignment', 'licence', 'equity')),
    summary             text NOT NULL CHECK (length(summary) BETWEEN 1 AND 5000),
    related_party       boolean NOT NULL,
    related_party_note  text NOT NULL DEFAULT '' CHECK (length(related_party_note) <= 2000),
    objection_procedure text NOT NULL CHECK (length(objection_procedure) BETWEEN 1 AND 2000),
    notice_days         integer NOT NULL CHECK (notice_days >= 15),
    status              text NOT NULL CHECK (status IN ('noticed', 'objected', 'cleared', 'cancelled', 'dealt')),
    notice_start        timestamptz NOT NULL,
    notice_end          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    cleared_at          timestamptz,
    cancelled_at        timestamptz,
    cancel_reason       text NOT NULL DEFAULT '' CHECK (length(cancel_reason) <= 2000),
    CHECK (notice_end > notice_start),
    CHECK (buyer_id <> seller_id)
);
CREATE INDEX agreements_status ON agreements (status);
CREATE UNIQUE INDEX agreements_one_open_per_achievement ON agreements (achievement_id)
    WHERE status IN ('noticed', 'objected', 'cleared');

CREATE TABLE agreement_objections (
    id            bigserial PRIMARY KEY,
    agreement_id  bigint NOT NULL REFERENCES agreements (id),
    objector_id   bigint NOT NULL REFERENCES accounts (id),
    grounds       text NOT NULL CHECK (length(grounds) BETWEEN 1 AND 2000),
    filed_at      timestamptz NOT NULL,
    outcome       text CHECK (outcome IN ('upheld', 'dismissed')),
    answer        text NOT NULL DEFAULT '' CHECK (length(answer) <= 2000),
    answered_by   bigint REFERENCES accounts (id),
    answered_at   timestamptz,
    CHECK ((outcome IS NULL) = (answered_at IS NULL))
);
CREATE INDEX agreement_objections_agreement ON agreement_objections (agreement_id);

-- Trades: from an auction, the listing's single buyer, a sealed or weighted quote, or an
-- agreement-pricing notice.
ALTER TABLE trades ADD COLUMN method text;
UPDATE trades SET method = 'english_auction';
ALTER TABLE trades ALTER COLUMN method SET NOT NULL;
ALTER TABLE trades ADD CONSTRAINT trades_method_check CHECK (method IN (
    'english_auction', 'listing_agreement', 'sealed_quote', 'weighted_quote', 'agreement_pricing'));
ALTER TABLE trades ADD COLUMN achievement_id bigint REFERENCES achievements (id);
UPDATE trades t SET achievement_id = l.achievement_id FROM listings l WHERE l.id = t.listing_id;
ALTER TABLE trades ALTER COLUMN achievement_id SET NOT NULL;
ALTER TABLE trades ADD COLUMN agreement_id bigint REFERENCES agreements (id);
ALTER TABLE trades ALTER COLUMN auction_id DROP NOT NULL;
ALTER TABLE trades ALTER COLUMN listing_id DROP NOT NULL;
ALTER TABLE trades ADD CONSTRAINT trades_origin CHECK (
    (method = 'english_auction') = (auction_id IS NOT NULL)
    AND (method = 'agreement_pricing') = (agreement_id IS NOT NULL)
    AND (method = 'agreement_pricing' OR listing_id IS NOT NULL));
CREATE UNIQUE INDEX trades_listing_round ON trades (listing_id, round) WHERE auction_id IS NULL AND listing_id IS NOT NULL;
CREATE UNIQUE INDEX trades_agreement ON trades (agreement_id) WHERE agreement_id IS NOT NULL;

-- One-time sealed quote (一次性报价) and weighted quote (综合评议) among a listing's qualified,
-- deposited buyers: proposals sealed to the round's key, opened at the deadline.
CREATE TABLE quote_rounds (
    id            bigserial PRIMARY KEY,
    listing_id    bigint NOT NULL UNIQUE REFERENCES listings (id),
    method        text NOT NULL CHECK (method IN ('sealed_quote', 'weighted_quote')),
    price_weight_bp integer NOT NULL CHECK (price_weight_bp BETWEEN 1000 AND 10000),
    opens_at      timestamptz NOT NULL,
    deadline      timestamptz NOT NULL,
    public_key    bytea NOT NULL,
    wrapped_key   bytea NOT NULL,
    status        text NOT NULL CHECK (status IN ('collecting', 'opened', 'awarded', 'failed')),
    created_by    bigint NOT NULL REFERENCES accounts (id),
    created_at    timestamptz NOT NULL,
    opened_at     timestamptz,
    awarded_at    timestamptz,
    winner_id     bigint REFERENCES accounts (id),
    price         bigint CHECK (price IS NULL OR price > 0),
    CHECK (deadline > opens_at),
    CHECK (status <> 'awarded' OR (winner_id IS NOT NULL AND price IS NOT NULL))
);

CREATE TABLE quote_proposals (
    round_id        bigint NOT NULL REFERENCES quote_rounds (id),
    investor_id     bigint NOT NULL REFERENCES accounts (id),
    seq             bigserial NOT NULL UNIQUE,  -- submission order: the earlier wins an exact tie
    commitment      text NOT NULL,
    sealed          bytea NOT NULL,
    request_mac     text NOT NULL,
    submitted_at    timestamptz NOT NULL,
    -- known only after the opening
    revealed_at     timestamptz,
    nonce           text,
    price           bigint CHECK (price IS NULL OR price > 0),
    plan            text,
    technical_score integer CHECK (technical_score IS NULL OR technical_score BETWEEN 0 AND 10000),
    total_score     integer,
    rank            integer CHECK (rank IS NULL OR rank >= 1),
    PRIMARY KEY (round_id, investor_id)
);

ALTER TABLE disclosures DROP CONSTRAINT disclosures_kind_check;
ALTER TABLE disclosures ADD CONSTRAINT disclosures_kind_check CHECK (kind IN (
    'listing_announcement', 'auction_notice', 'deal_announcement', 'auction_failed',
    'transaction_certificate', 'objection_outcome', 'tender_announcement', 'tender_opening',
    'tender_candidates', 'tender_award', 'tender_objection_outcome', 'problem_milestone_accepted',
    'problem_arbitration', 'listing_change', 'listing_extension', 'listing_suspension',
    'listing_resumption', 'listing_outcome', 'agreement_notice', 'agreement_objection_outcome',
    'agreement_cleared', 'quote_opening'));
