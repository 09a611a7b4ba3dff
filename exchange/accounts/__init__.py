"""Accounts: institutions, investors and operators; passwords, sessions and API tokens."""
