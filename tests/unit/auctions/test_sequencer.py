"""The sequencer with a fake store: group commit, acknowledgement after commit, rollback, keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange.auctions.commands import Admission, BatchWrite, KeyTaken, PlaceBidRequest, TimerTick
from exchange.auctions.lot import Lot, LotInfo
from exchange.auctions.sequencer import Sequencer
from exchange.auctions.types import SequencerUnavailable, iso, to_micros
from exchange.clock import FixedClock
from exchange.errors import Conflict, NotFound
from matching_core.common import fixed_increment
from matching_core.english_types import EnglishTerms

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LOT = 7


class FakeStore:
    def __init__(self) -> None:
        self.batches: list[BatchWrite] = []
        self.fail_next = False
        self.gate: asyncio.Event | None = None
        self.writing = asyncio.Event()
        self.lookups: list[list[tuple[int, str]]] = []
        self.stored: dict[tuple[int, str], tuple[str, dict[str, Any]]] = {}
        self.refused: list[list[tuple[int, str]]] = []

    async def write(self, batch: BatchWrite) -> None:
        self.writing.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the database went away")
        taken = [(r[0], r[1]) for r in batch.requests if (r[0], r[1]) in self.stored]
        if taken:
            self.refused.append(taken)
            raise KeyTaken(f"{taken} already stored")
        self.batches.append(batch)
        self.stored.update({(r[0], r[1]): (r[3], r[4]) for r in batch.requests})

    async def answers(self, keys: list[tuple[int, str]]) -> dict[tuple[int, str], tuple[str, dict[str, Any]]]:
        self.lookups.append(keys)
        return {key: self.stored[key] for key in keys if key in self.stored}

    def events(self, kind: str | None = None) -> list[Any]:
        return [e for b in self.batches for e in b.events if kind is None or e.kind == kind]


def _lot() -> Lot:
    opens = to_micros(NOW)
    terms = EnglishTerms(start_price=1_000, increments=fixed_increment(100), opens_at=opens,
                         scheduled_end=opens + 3_600_000_000, quiet_period=300_000_000)
    info = LotInfo(id=LOT, listing_id=1, seller_id=99, currency="CNY", title="t", title_en="t",
                   reference_no="TT2026000001", terms=terms)
    return Lot.replay(info, [])


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def published() -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def sequencer(store: FakeStore, published: list[dict[str, Any]]) -> AsyncIterator[Sequencer]:
    clock = FixedClock(NOW)
    seq = Sequencer(store, clock, published.extend)
    seq.add(_lot())
    seq.start()
    for bidder in (1, 2, 3):
        await seq.submit(Admission(LOT, bidder, 50))
    yield seq
    await seq.stop()


def bid(bidder: int, amount: int, key: str | None = None, kind: str = "bid") -> PlaceBidRequest:
    return PlaceBidRequest(LOT, bidder, kind, amount, key, None if key is None else f"{kind}:{amount}")


async def test_a_bid_is_acknowledged_only_after_its_batch_is_committed(
    sequencer: Sequencer, store: FakeStore
) -> None:
    store.gate = asyncio.Event()
    store.writing.clear()
    pending = asyncio.create_task(sequencer.submit(bid(1, 1_000)))
    await asyncio.wait_for(store.writing.wait(), 1)
    await asyncio.sleep(0.01)
    assert not pending.done()
    committed = len(store.batches)
    store.gate.set()
    ack = await pending
    assert ack["status"] == "accepted" and ack["seq"] == 5  # 3 admissions, the opening, the bid
    assert len(store.batches) == committed + 1


async def test_commands_arriving_during_a_commit_are_written_together_in_one_batch(
    sequencer: Sequencer, store: FakeStore
) -> None:
    store.gate = asyncio.Event()
    store.writing.clear()
    first = asyncio.create_task(sequencer.submit(bid(1, 1_000)))
    await asyncio.wait_for(store.writing.wait(), 1)
    rest = [asyncio.create_task(sequencer.submit(bid(2 + i % 2, 1_100 + i * 100))) for i in range(50)]
    await asyncio.sleep(0.01)
    before = len(store.batches)
    store.gate.set()
    acks = await asyncio.gather(first, *rest)
    assert all(a["status"] == "accepted" for a in acks)
    assert len(store.batches) == before + 2
    assert len(store.batches[-1].events) == 50 and len(store.batches[-1].lots) == 1
    assert [a["seq"] for a in acks] == list(range(5, 56))


async def test_a_failed_commit_restores_the_book_and_fails_every_caller_of_the_batch(
    sequencer: Sequencer, store: FakeStore, published: list[dict[str, Any]]
) -> None:
    await sequencer.submit(bid(1, 1_000))
    lot = sequencer.lot(LOT)
    assert lot is not None
    state = lot.book.state_hash()
    seen = len(published)
    store.fail_next = True
    store.gate = asyncio.Event()
    doomed = [asyncio.create_task(sequencer.submit(bid(2 + i % 2, 1_100 + i * 100, key=f"k{i}")))
              for i in range(5)]
    await asyncio.sleep(0.01)
    store.gate.set()
    results = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(r, SequencerUnavailable) for r in results)
    lot = sequencer.lot(LOT)
    assert lot is not None and lot.book.state_hash() == state and lot.book.price == 1_000
    assert len(published) == seen, "nothing uncommitted reaches the feed"
    retried = await sequencer.submit(bid(2, 1_100, key="k0"))
    assert retried["status"] == "accepted" and retried["seq"] == 6, "no gap in the sequence"
    assert [e.seq for e in store.events()] == list(range(1, 7))


async def test_the_same_key_and_body_replays_the_first_answer_and_another_body_is_refused(
    sequencer: Sequencer, store: FakeStore
) -> None:
    first, again = await asyncio.gather(sequencer.submit(bid(1, 1_000, key="a")),
                                        sequencer.submit(bid(1, 1_000, key="a")))
    assert first == again and first["status"] == "accepted"
    with pytest.raises(Conflict):
        await sequencer.submit(bid(1, 1_200, key="a"))
    assert len(store.events("bid")) == 1
    assert [r[1] for b in store.batches for r in b.requests] == ["a"]


async def test_rejections_are_answers_with_a_code_and_change_nothing(
    sequencer: Sequencer, store: FakeStore
) -> None:
    await sequencer.submit(bid(1, 1_000))
    writes = len(store.batches)
    low = await sequencer.submit(bid(2, 1_150))
    assert low["status"] == "rejected" and low["code"] == "not_whole_increment" and low["seq"] is None
    assert len(store.batches) == writes, "a rejection without a key writes nothing"
    assert (await sequencer.submit(bid(1, 1_100)))["code"] == "already_leading"
    with pytest.raises(NotFound):
        await sequencer.submit(PlaceBidRequest(LOT + 1, 1, "bid", 1_000))


async def test_time_never_runs_backwards_for_the_book(sequencer: Sequencer, store: FakeStore) -> None:
    clock = sequencer._clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(seconds=10))
    first = await sequencer.submit(bid(1, 1_000))
    clock.advance(timedelta(seconds=-5))
    second = await sequencer.submit(bid(2, 1_100))
    assert second["status"] == "accepted" and second["at"] == first["at"]


async def test_a_tick_before_the_close_is_a_no_op_and_after_it_closes_at_the_close_time(
    sequencer: Sequencer, store: FakeStore
) -> None:
    await sequencer.submit(bid(1, 1_000))
    lot = sequencer.lot(LOT)
    assert lot is not None
    close_at = lot.book.next_deadline()
    assert close_at is not None
    assert await sequencer.submit(TimerTick(LOT)) == {"closed": False}
    clock = sequencer._clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=1))
    assert sequencer.due(to_micros(clock.now())) == [LOT]
    assert await sequencer.submit(TimerTick(LOT)) == {"closed": True}
    closed = store.events("closed")[0]
    assert closed.payload["close_at"] == close_at and closed.payload["winner"] == "1"
    row = store.batches[-1].lots[0]
    assert row["status"] == "closed" and row["closed_at"] == close_at and row["next_deadline"] is None
    assert sequencer.due(to_micros(clock.now())) == []


async def test_stop_answers_everything_already_queued(store: FakeStore) -> None:
    seq = Sequencer(store, FixedClock(NOW))
    seq.add(_lot())
    seq.start()
    queued = [asyncio.create_task(seq.submit(Admission(LOT, i, 50))) for i in range(1, 30)]
    await asyncio.sleep(0)
    await seq.stop()
    assert [r["code"] for r in await asyncio.gather(*queued)] == [f"A{i:03d}" for i in range(1, 30)]
    with pytest.raises(SequencerUnavailable):
        await seq.submit(Admission(LOT, 99, 50))


async def test_a_key_answered_before_a_restart_is_replayed_without_a_second_effect(
    sequencer: Sequencer, store: FakeStore
) -> None:
    earlier = {"status": "accepted", "seq": 1_000, "note": "answered before a restart"}
    store.stored[(1, "old")] = ("bid:1000", earlier)
    store.gate = asyncio.Event()
    store.writing.clear()
    blocker = asyncio.create_task(sequencer.submit(bid(3, 1_000)))
    await asyncio.wait_for(store.writing.wait(), 1)
    queued = [asyncio.create_task(sequencer.submit(bid(1, 1_000, key="old"))),
              asyncio.create_task(sequencer.submit(bid(2, 1_100, key="new")))]
    await asyncio.sleep(0.01)
    store.gate.set()
    await blocker
    replayed, fresh = await asyncio.gather(*queued)
    assert replayed == earlier and fresh["status"] == "accepted" and fresh["seq"] == 6
    assert store.refused == [[(1, "old")]] and store.lookups == [[(1, "old"), (2, "new")]]
    assert [e.payload["amount"] for e in store.events("bid")] == [1_000, 1_100], "the old key's bid was not applied"
    with pytest.raises(Conflict):
        await sequencer.submit(bid(1, 1_200, key="old"))
    assert len(store.lookups) == 1, "a key read back once is answered from memory after"


async def test_new_keys_cost_no_read(sequencer: Sequencer, store: FakeStore) -> None:
    for i in range(20):
        await sequencer.submit(bid(1 + i % 2, 1_000 + i * 100, key=f"k{i}"))
    assert store.lookups == [] and store.refused == []
    assert [r[1] for b in store.batches for r in b.requests] == [f"k{i}" for i in range(20)]


async def test_a_key_sent_twice_in_one_batch_is_written_once(sequencer: Sequencer, store: FakeStore) -> None:
    first, second = await asyncio.gather(sequencer.submit(bid(1, 1_000, key="twice")),
                                         sequencer.submit(bid(1, 1_000, key="twice")))
    assert first == second and first["status"] == "accepted"
    assert [r[1] for b in store.batches for r in b.requests] == ["twice"]
    assert store.lookups == []


async def test_a_refused_key_puts_back_the_parked_bids_the_batch_had_taken(store: FakeStore) -> None:
    clock = FixedClock(NOW)
    horizon = Horizon(CLOSE - 5_000_000)
    seq = Sequencer(store, clock, horizon=horizon)
    seq.add(_lot())
    seq.start()
    try:
        for bidder in (1, 2, 3):
            await seq.submit(Admission(LOT, bidder, 50))
        clock.advance(timedelta(hours=2))
        after = asyncio.create_task(seq.submit(bid(2, 1_100, key="after"), received_at=CLOSE + 1_000_000))
        await asyncio.sleep(0.01)
        store.stored[(3, "old")] = ("bid:1000", {"status": "accepted", "note": "before a restart"})
        # one batch: a bid before the close (it moves the deadline past the parked one) and an old key
        before, old = await asyncio.gather(
            seq.submit(bid(1, 1_000, key="before"), received_at=CLOSE - 1_000_000),
            seq.submit(bid(3, 1_000, key="old"), received_at=CLOSE - 900_000))
        assert before["status"] == "accepted" and old["note"] == "before a restart"
        assert store.refused == [[(3, "old")]]
        answer = await after
        assert answer["status"] == "accepted" and answer["amount"] == 1_100
        assert [e.payload["amount"] for e in store.events("bid")] == [1_000, 1_100]
    finally:
        await seq.stop()


# -- receipt time and the horizon ----------------------------------------------------------

CLOSE = to_micros(NOW) + 3_600_000_000 + 300_000_000  # the scheduled end, then one quiet period


class Horizon:
    """The time up to which every gateway has handed over what it received; moved by the test."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __call__(self, now: int) -> int:
        return min(self.value, now)


@pytest.fixture
async def late(store: FakeStore) -> AsyncIterator[tuple[Sequencer, FixedClock, Horizon]]:
    """A sequencer whose clock is past the close while the horizon is still before it."""
    clock = FixedClock(NOW)
    horizon = Horizon(to_micros(NOW))
    seq = Sequencer(store, clock, horizon=horizon)
    seq.add(_lot())
    seq.start()
    for bidder in (1, 2, 3):
        await seq.submit(Admission(LOT, bidder, 50))
    clock.advance(timedelta(hours=2))
    yield seq, clock, horizon
    await seq.stop()


async def test_a_bid_received_before_the_close_is_judged_before_it_however_long_the_queue(
    late: tuple[Sequencer, FixedClock, Horizon], store: FakeStore
) -> None:
    seq, _, horizon = late
    horizon.value = CLOSE + 1  # every gateway has handed over what it received before the close
    store.gate = asyncio.Event()
    store.writing.clear()
    stalled = asyncio.create_task(seq.submit(Admission(LOT, 4, 50), received_at=CLOSE - 2_000_000))
    await asyncio.wait_for(store.writing.wait(), 1)
    # the commit hangs; a bid received a second before the close queues behind it, then the deadline fires
    queued = asyncio.create_task(seq.submit(bid(1, 1_000), received_at=CLOSE - 1_000_000))
    tick = asyncio.create_task(seq.submit(TimerTick(LOT)))
    await asyncio.sleep(0.01)
    store.gate.set()
    await stalled
    ack = await queued
    assert ack["status"] == "accepted" and ack["at"] == iso(CLOSE - 1_000_000)
    assert await tick == {"closed": False}, "the bid restarted the quiet period"
    assert ack["close_at"] == iso(CLOSE - 1_000_000 + 300_000_000)


async def test_the_close_waits_for_the_horizon_and_is_applied_at_exactly_its_time(
    late: tuple[Sequencer, FixedClock, Horizon], store: FakeStore
) -> None:
    seq, clock, horizon = late
    horizon.value = CLOSE - 1
    assert seq.due(seq.horizon(seq.stamp())) == [], "a gateway may still hand over a bid received before it"
    horizon.value = CLOSE
    assert seq.due(seq.horizon(seq.stamp())) == [LOT]
    assert await seq.submit(TimerTick(LOT)) == {"closed": True}
    closed = store.events("closed")[0]
    assert closed.at == CLOSE < to_micros(clock.now())


async def test_a_bid_stamped_after_the_deadline_waits_and_is_judged_in_stamp_order(
    late: tuple[Sequencer, FixedClock, Horizon], store: FakeStore
) -> None:
    seq, _, horizon = late
    horizon.value = CLOSE - 5_000_000
    after = asyncio.create_task(seq.submit(bid(2, 1_100), received_at=CLOSE + 1_000_000))
    await asyncio.sleep(0.01)
    assert not after.done() and seq.parked() == 1
    assert seq.due(seq.horizon(seq.stamp())) == []
    # a bid received earlier, before the close, arrives later from a slower gateway
    before = await seq.submit(bid(1, 1_000), received_at=CLOSE - 1_000_000)
    assert before["status"] == "accepted", "it restarted the quiet period"
    answer = await after
    assert answer["status"] == "accepted" and answer["at"] == iso(CLOSE + 1_000_000)
    assert [e.payload["amount"] for e in store.events("bid")] == [1_000, 1_100]
    assert seq.parked() == 0 and store.events("closed") == []


async def test_a_bid_stamped_after_a_close_that_stands_is_refused_as_closed(
    late: tuple[Sequencer, FixedClock, Horizon], store: FakeStore
) -> None:
    seq, _, horizon = late
    await seq.submit(bid(1, 1_000), received_at=CLOSE - 100_000_000)
    horizon.value = CLOSE - 100_000_000
    final_close = CLOSE - 100_000_000 + 300_000_000
    after = asyncio.create_task(seq.submit(bid(2, 1_100), received_at=final_close + 1))
    await asyncio.sleep(0.01)
    assert not after.done()
    horizon.value = final_close + 10
    assert await seq.submit(TimerTick(LOT)) == {"closed": True}
    refused = await after
    assert refused["status"] == "rejected" and refused["code"] == "auction_closed"
    assert [e.kind for e in store.events()][-1] == "closed"
    assert store.events("closed")[0].at == final_close


async def test_a_stamp_ahead_of_the_engine_clock_is_taken_as_now(sequencer: Sequencer) -> None:
    now = sequencer.stamp()
    ack = await sequencer.submit(bid(1, 1_000), received_at=now + 60_000_000)
    assert ack["at"] == iso(now)


async def test_stopping_answers_parked_bids_as_not_recorded(
    late: tuple[Sequencer, FixedClock, Horizon]
) -> None:
    seq, _, horizon = late
    horizon.value = CLOSE - 1
    parked = asyncio.create_task(seq.submit(bid(1, 1_000), received_at=CLOSE + 1))
    await asyncio.sleep(0.01)
    await seq.stop()
    with pytest.raises(SequencerUnavailable):
        await parked
