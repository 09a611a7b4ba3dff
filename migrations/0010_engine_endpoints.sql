-- Where gateways find the auction engine: the engine that holds the engine lock (a PostgreSQL
-- advisory lock on a connection of its own) records the address of its link server here.
CREATE TABLE engine_endpoints (
    name        text PRIMARY KEY,
    address     text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL
);
