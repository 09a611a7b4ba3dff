-- Foundation: accounts, API tokens, the achievement registry, listings and their review.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE accounts (
    id            bigserial PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('institution', 'investor', 'operator')),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    contact_name  text NOT NULL DEFAULT '' CHECK (length(contact_name) <= 100),
    phone         text NOT NULL DEFAULT '' CHECK (length(phone) <= 40),
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

CREATE TABLE achievements (
    id              bigserial PRIMARY KEY,
    owner_id        bigint NOT NULL REFERENCES accounts (id),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    title_en        text NOT NULL DEFAULT '' CHECK (length(title_en) <= 200),
    summary         text NOT NULL CHECK (length(summary) BETWEEN 1 AND 5000),
    summary_en      text NOT NULL DEFAULT '' CHECK (length(summary_en) <= 5000),
    field           text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('patent', 'software', 'know_how', 'licence', 'equity')),
    ip_identifiers  text[] NOT NULL DEFAULT '{}',
    inventors       text[] NOT NULL DEFAULT '{}',
    funding_source  text NOT NULL CHECK (funding_source IN ('public', 'non_public')),
    programme       text NOT NULL DEFAULT '' CHECK (length(programme) <= 200),
    maturity        text NOT NULL,
    appraised_value bigint CHECK (appraised_value IS NULL OR appraised_value > 0),
    currency        char(3) NOT NULL,
    documents       jsonb NOT NULL DEFAULT '[]',
    search_text     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX achievements_owner ON achievements (owner_id);

CREATE SEQUENCE listing_reference_seq;

CREATE TABLE listings (
    id                  bigserial PRIMARY KEY,
    reference_no        text NOT NULL UNIQUE,
    achievement_id      bigint NOT NULL REFERENCES achievements (id),
    seller_id           bigint NOT NULL REFERENCES accounts (id),
    status              text NOT NULL CHECK (status IN ('submitted', 'returned', 'announced', 'withdrawn')),
    listing_price       bigint NOT NULL CHECK (listing_price > 0),
    currency            char(3) NOT NULL,
    deposit             bigint NOT NULL CHECK (deposit >= 0),
    transfer_mode       text NOT NULL CHECK (transfer_mode IN ('assignment', 'licence', 'equity')),
    terms               text NOT NULL CHECK (length(terms) BETWEEN 1 AND 5000),
    bidder_conditions   text NOT NULL CHECK (length(bidder_conditions) BETWEEN 1 AND 5000),
    competitive_method  text NOT NULL CHECK (competitive_method IN ('english_auction', 'sealed_quote', 'weighted_quote')),
    announcement_wd     integer NOT NULL CHECK (announcement_wd >= 20),
    submitted_at        timestamptz NOT NULL,
    reviewed_at         timestamptz,
    reviewed_by         bigint REFERENCES accounts (id),
    return_reasons      text NOT NULL DEFAULT '',
    announcement_start  timestamptz,
    announcement_end    timestamptz,
    search_text         text NOT NULL DEFAULT '',
    CHECK (status <> 'announced' OR (announcement_start IS NOT NULL AND announcement_end > announcement_start))
);
CREATE INDEX listings_seller ON listings (seller_id);
CREATE INDEX listings_status ON listings (status);
CREATE INDEX listings_search ON listings USING gin (search_text gin_trgm_ops);

-- Every review decision, kept: approvals and returns with their reasons.
CREATE TABLE listing_reviews (
    id          bigserial PRIMARY KEY,
    listing_id  bigint NOT NULL REFERENCES listings (id),
    operator_id bigint NOT NULL REFERENCES accounts (id),
    decision    text NOT NULL CHECK (decision IN ('approve', 'return')),
    reasons     text NOT NULL DEFAULT '',
    decided_at  timestamptz NOT NULL
);
CREATE INDEX listing_reviews_listing ON listing_reviews (listing_id);
