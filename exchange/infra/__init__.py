"""Infrastructure adapters: PostgreSQL, Redis, embedded servers, migrations."""
