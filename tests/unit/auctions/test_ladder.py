"""The public ladder of bids: every accepted bid that moved the price, a leader's maximum never."""

from __future__ import annotations

from typing import Any

from exchange.auctions.lot import ladder_entries

CODES = {"alice": "A001", "bob": "A002"}
AT = 1_767_225_600_000_000  # µs


def _bid(bidder: str, amount: int, *, proxy: bool, leader: str, price: int) -> dict[str, Any]:
    return {"bidder": bidder, "amount": amount, "proxy": proxy, "leader": leader, "price": price, "at": AT}


def test_a_bid_that_leads_is_one_row_at_the_new_price() -> None:
    [row] = ladder_entries(_bid("bob", 130_000, proxy=False, leader="bob", price=130_000), 100_000, CODES)
    assert (row["code"], row["amount"], row["proxy"]) == ("A002", 130_000, False)


def test_a_proxy_that_leads_shows_the_price_it_reached_never_its_maximum() -> None:
    [row] = ladder_entries(_bid("bob", 500_000, proxy=True, leader="bob", price=110_000), 100_000, CODES)
    assert (row["code"], row["amount"], row["proxy"]) == ("A002", 110_000, True)


def test_a_bid_held_by_an_earlier_maximum_is_listed_below_the_leaders_automatic_bid_at_that_amount() -> None:
    rows = ladder_entries(_bid("bob", 150_000, proxy=False, leader="alice", price=150_000), 100_000, CODES)
    assert [(r["code"], r["amount"], r["proxy"]) for r in rows] == [("A001", 150_000, True), ("A002", 150_000, False)]


def test_a_beaten_proxy_is_listed_at_its_exhausted_maximum() -> None:
    rows = ladder_entries(_bid("bob", 150_000, proxy=True, leader="alice", price=150_000), 100_000, CODES)
    assert [(r["code"], r["amount"], r["proxy"]) for r in rows] == [("A001", 150_000, True), ("A002", 150_000, True)]


def test_a_leader_raising_their_own_maximum_adds_nothing() -> None:
    assert ladder_entries(_bid("alice", 900_000, proxy=True, leader="alice", price=150_000), 150_000, CODES) == []
