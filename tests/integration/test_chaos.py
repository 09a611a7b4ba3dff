"""`exchange chaos`: a bidding war while the exchange's processes and servers fail one at a time,
then an audit from outside. Briefly here (the README's figures come from the full run); the
outcomes are asserted, never the timings.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from exchange.load.chaos import (
    EXTRA_FAULTS,
    FAULTS,
    Bid,
    ChaosOptions,
    audit_log,
    render,
    run_chaos,
)

pytestmark = pytest.mark.timeout(240)


async def test_every_fault_in_turn_during_a_bidding_war_loses_invents_and_doubles_no_bid(tmp_path: Path) -> None:
    faults = (*FAULTS, *EXTRA_FAULTS)  # postgres-drop too: the engine once never recovered from it
    report = await run_chaos(ChaosOptions(duration=20, rate=20, redis_stop_s=2, server_down_s=1.5, faults=faults,
                                          workdir=tmp_path / "chaos"))
    text = render(report)
    assert report["failures"] == [], text
    assert [fault["name"] for fault in report["faults"]] == list(faults), text
    log, bids, watchers = report["log"], report["bids"], report["watchers"]
    assert (log["lost"], log["phantom"], log["duplicated"], log["refused_yet_applied"]) == ([], [], [], []), text
    assert bids["acknowledged"] > 0 and bids["other_answers"] == {}, text
    assert log["bid_events"] == bids["acknowledged"] + log["applied_without_an_answer_to_the_client"], text
    assert bids["answered_503_then_sent_again"] > 0, "the engine's restart was felt by the clients: " + text
    assert report["idempotency"]["keys_sent_again"] == bids["sent"], text
    assert report["idempotency"]["answered_differently"] == [], text
    assert watchers["connections"] > watchers["watchers"], "the killed gateway's watchers reconnected: " + text
    assert watchers["gaps_in_a_connections_frames"] == watchers["events_never_seen"] == 0, text
    assert report["ledger_check"]["exit_code"] == 0 and report["verify"]["exit_code"] == 0, text
    assert report["stop"]["exit_code"] == 0 and report["stop"]["left_running"] == [], text


def _acked(n: int, seq: int, amount: int, code: str = "A001") -> Bid:
    return Bid(n, lot=7, amount=amount, bidder=0, key=f"k{n}", status=201,
               answer={"seq": seq, "amount": amount, "your_code": code})


def _bid_event(seq: int, price: int, code: str = "A001") -> dict[str, Any]:
    return {"lot": 7, "seq": seq, "type": "bid", "price": price, "bid": {"code": code, "price": price}}


def test_the_audit_names_a_lost_a_phantom_and_a_doubled_bid() -> None:
    opened = {"lot": 7, "seq": 1, "type": "opened"}
    sent = SimpleNamespace(bids=[_acked(0, 2, 1_000_000), _acked(1, 3, 1_001_000), _acked(2, 4, 1_002_000)])
    whole = [opened, _bid_event(2, 1_000_000), _bid_event(3, 1_001_000), _bid_event(4, 1_002_000)]
    clean = audit_log(sent, {7: whole})
    assert (clean["lost"], clean["phantom"], clean["duplicated"], clean["log_sequence_problems"]) == ([], [], [], [])

    missing = audit_log(sent, {7: [opened, _bid_event(2, 1_000_000), _bid_event(3, 1_002_000)]})
    assert len(missing["lost"]) == 2, "seq 3 holds another amount and seq 4 is gone"

    invented = audit_log(sent, {7: [*whole, _bid_event(5, 1_500_000)]})
    assert len(invented["phantom"]) == 1 and invented["lost"] == []
    by_another = audit_log(sent, {7: [opened, _bid_event(2, 1_000_000, "A002"), *whole[2:]]})
    assert len(by_another["phantom"]) == 1 and len(by_another["lost"]) == 1

    doubled = audit_log(sent, {7: [*whole, _bid_event(5, 1_002_000)]})
    assert len(doubled["duplicated"]) == 1
    gapped = audit_log(sent, {7: [whole[0], *whole[2:]]})
    assert gapped["log_sequence_problems"] and len(gapped["lost"]) == 1
