"""The double-entry ledger: accounts, two-phase transfers and the invariants over them."""
