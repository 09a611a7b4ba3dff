"""Tenders (招标): sealed proposals opened at a deadline, scored by a committee, awarded."""
