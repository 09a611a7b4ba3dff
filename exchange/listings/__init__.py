"""Listings (挂牌): submission, operator review and the announcement period."""
