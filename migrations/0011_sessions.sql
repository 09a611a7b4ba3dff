-- Browser sessions, kept in PostgreSQL so that they outlive a Redis outage; each process trusts
-- what it read of one for a few seconds, and a logout or a token's revocation is announced on
-- the `revocations` channel (NOTIFY) so every process forgets it at once.
CREATE TABLE sessions (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 20 AND 64),
    csrf        text NOT NULL,
    account_id  bigint REFERENCES accounts (id) ON DELETE CASCADE,
    lang        text NOT NULL DEFAULT '',
    flash       text NOT NULL DEFAULT '',
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expire ON sessions (expires_at);
CREATE INDEX sessions_of_account ON sessions (account_id) WHERE account_id IS NOT NULL;
