"""The single writer: every command for every lot of this process goes through one task.

A batch is applied to the books in memory, written in ONE transaction (events, admitted
bidders, idempotency answers, lot rows), and only then are the callers answered and the
events handed to the feed. If the write fails, the touched books return to the state
last committed and every caller of the batch gets a retryable error.

Every command is applied at the time the exchange received it (its receipt stamp, taken
by the gateway that read it or by `submit`), never at the time a backlog lets it through:
a bid received before the close is judged before the close, however long the queue in
front of it. Stamps only move later, to the lot's last applied time, never earlier. A
command stamped at or after its lot's deadline waits ("is parked") until the horizon has
passed its stamp: the horizon is the time up to which every gateway has handed over what
it received (see exchange/auctions/horizon.py), so nothing received earlier can still
arrive. The deadline itself is applied at exactly its time once the horizon passes it.

Idempotency keys cost no read in the common case: the writer remembers the answers it gave
(the latest KEYS_REMEMBERED), and a key it does not know is taken to be new. If the key was
answered before (by an engine before this one, or so long ago that it was forgotten), the
key's primary key refuses the batch: the books go back to their committed state, the batch's
unknown keys are read once, and the batch is applied again, the old key now answered with
its first answer and nothing applied twice.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from exchange.auctions.answers import bid_answer, lot_row
from exchange.auctions.commands import (
    Admission,
    BatchStore,
    BatchWrite,
    Command,
    Entry,
    KeyTaken,
    PlaceBidRequest,
    TimerTick,
)
from exchange.auctions.feed import feed_message
from exchange.auctions.lot import Lot, Recorded, event_kind, event_payload
from exchange.auctions.types import (
    SequencerUnavailable,
    to_micros,
)
from exchange.clock import Clock
from exchange.errors import Conflict, ExchangeError, NotFound
from matching_core.codes import RejectCode, Rejection
from matching_core.common import AdmitBidder, AuctionClosed, BidderAdmitted, Tick
from matching_core.english_types import EnglishEvent, PlaceBid, PlaceProxyBid

log = logging.getLogger(__name__)

MAX_BATCH = 2_000
MAX_QUEUE = 50_000
KEYS_REMEMBERED = 20_000
RELOAD_TIMEOUT_S = 2.0


Publish = Callable[[list[dict[str, Any]]], None]
Reload = Callable[[int], Awaitable[Lot]]
Horizon = Callable[[int], int]
"""Given the engine's time now (µs), the time up to which every command received has arrived."""
_STOP = object()


def _now_is_the_horizon(now: int) -> int:
    return now


class Sequencer:
    def __init__(
        self, store: BatchStore, clock: Clock, publish: Publish | None = None,
        reload: Reload | None = None, *, max_batch: int = MAX_BATCH,
        horizon: Horizon = _now_is_the_horizon,
    ) -> None:
        self._store = store
        self._clock = clock
        self._publish = publish
        self._reload = reload
        self._max_batch = max_batch
        self.horizon = horizon
        self._lots: dict[int, Lot] = {}
        self._parked: dict[int, list[tuple[int, int, Command, asyncio.Future[Any]]]] = {}
        """Per lot, a heap of (stamp, arrival, command, future) stamped at or after its deadline."""
        self._arrival = itertools.count()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        """Entries as submitted, for the writer."""
        self._task: asyncio.Task[None] | None = None
        self._released: list[tuple[int, tuple[int, int, Command, asyncio.Future[Any]]]] = []
        """Parked commands taken by the batch being applied (put back if it is applied again)."""
        self._last_stamp = 0
        self._answers: OrderedDict[tuple[int, str], tuple[str, dict[str, Any]]] = OrderedDict()
        """Answers by (account id, key): recent ones in memory, older ones read when a key is refused."""
        self.batches = 0
        self.on_closed: Callable[[int], None] | None = None
        """Called with each lot whose close was just committed, before its callers hear back."""
        self.on_deadline_change: Callable[[], None] | None = None
        """Called when a lot is added: its deadline may be earlier than any known one.
        Batches only ever move deadlines later (an opening gives way to the close, bids extend it)."""

    # -- lots ----------------------------------------------------------------------

    def add(self, lot: Lot) -> None:
        self._lots[lot.info.id] = lot
        if self.on_deadline_change is not None:
            self.on_deadline_change()

    def lot(self, lot_id: int) -> Lot | None:
        return self._lots.get(lot_id)

    def lots(self) -> list[Lot]:
        return list(self._lots.values())

    def due(self, horizon: int) -> list[int]:
        """Lots with a deadline or a parked command at or before `horizon`."""
        due = {lot.info.id for lot in self._lots.values()
               if (deadline := lot.deadline()) is not None and deadline <= horizon}
        due.update(lot for lot, parked in self._parked.items() if parked and parked[0][0] <= horizon)
        return sorted(due)

    def next_deadline(self) -> int | None:
        deadlines = [d for lot in self._lots.values() if (d := lot.deadline()) is not None]
        deadlines.extend(parked[0][0] for parked in self._parked.values() if parked)
        return min(deadlines, default=None)

    def parked(self) -> int:
        """Commands waiting for the horizon to pass their stamp."""
        return sum(len(parked) for parked in self._parked.values())

    def remember(self, account_id: int, key: str, request_hash: str, answer: dict[str, Any]) -> None:
        self._answers[(account_id, key)] = (request_hash, answer)
        if len(self._answers) > KEYS_REMEMBERED:
            self._answers.popitem(last=False)

    # -- running -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="auction-sequencer")

    async def stop(self) -> None:
        """Answers everything already queued, then stops."""
        task, self._task = self._task, None
        if task is None:
            return
        self._queue.put_nowait(_STOP)
        await task

    def stamp(self) -> int:
        """The engine's time now in µs, never earlier than a stamp it gave before."""
        self._last_stamp = max(self._last_stamp, to_micros(self._clock.now()))
        return self._last_stamp

    async def submit(self, command: Command, received_at: int | None = None) -> Any:
        """The command's answer once committed. `received_at`: when a gateway received it
        (µs); without one, now. A stamp ahead of the engine's clock is taken as now."""
        return await self.enqueue(command, received_at)

    def enqueue(self, command: Command, received_at: int | None = None) -> asyncio.Future[Any]:
        """`submit` without awaiting: the future of the answer."""
        if self._task is None or self._task.done():
            raise SequencerUnavailable("the auction engine is not running; try again shortly")
        if self._queue.qsize() >= MAX_QUEUE:
            raise SequencerUnavailable("the auction engine is busy; try again shortly")
        now = self.stamp()
        at = now if received_at is None else min(received_at, now)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((command, future, at))
        return future

    async def _run(self) -> None:
        """The writer: whatever was submitted meanwhile, as one batch."""
        while True:
            item = await self._queue.get()
            batch: list[Entry] = []
            stopping = item is _STOP
            if not stopping:
                batch.append(item)
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
            if batch:
                try:
                    await self._process(batch)
                except Exception:  # a defect must not stop every lot of the process
                    log.exception("auction batch failed unexpectedly")
                    _fail(batch)
            if stopping and self._queue.empty():
                self._fail_parked()
                return

    def _fail_parked(self) -> None:
        """Stopping: what waits for the horizon is answered as not recorded (a retry is safe)."""
        for parked in self._parked.values():
            for _, _, _, future in parked:
                if not future.done():
                    future.set_exception(SequencerUnavailable("the engine stopped; the bid was not recorded"))
        self._parked.clear()

    # -- one batch -----------------------------------------------------------------

    async def _recall(self, batch: list[Entry]) -> None:
        """Reads the stored answers of the batch's keys not in memory (one read)."""
        unknown = list(dict.fromkeys(
            (c.account_id, c.key) for c, _, _ in batch
            if isinstance(c, PlaceBidRequest) and c.key is not None and (c.account_id, c.key) not in self._answers))
        if unknown:
            for key, answer in (await self._store.answers(unknown)).items():
                self.remember(key[0], key[1], answer[0], answer[1])

    async def _process(self, batch: list[Entry], *, recalled: bool = False) -> None:
        """Applies the batch, writes it, then answers. `recalled`: its stored keys were read."""
        self._released = []
        write = BatchWrite()
        touched: dict[int, Lot] = {}
        keys: list[tuple[int, str]] = []
        answered: list[tuple[asyncio.Future[Any], Any]] = []
        horizon = self.horizon(self.stamp())
        for command, future, at in batch:
            lot = self._lots.get(command.lot)
            if lot is None:
                answered.append((future, NotFound("no such auction")))
                continue
            touched[lot.info.id] = lot
            try:
                if isinstance(command, TimerTick):
                    answered.append((future, self._release(lot, horizon, write, keys, answered)))
                    continue
                deadline = lot.book.next_deadline()
                if deadline is not None and at >= deadline:
                    # at or after the deadline: judged only in stamp order with it
                    self._park(lot, at, command, future)
                    if at <= horizon:
                        self._release(lot, horizon, write, keys, answered)
                    continue
                answered.append((future, self._apply(lot, command, at, write, keys)))
                if lot.info.id in self._parked:  # the deadline may have moved past what waits
                    self._release(lot, horizon, write, keys, answered)
            except ExchangeError as exc:
                answered.append((future, exc))
        if write:
            changed = {recorded.lot for recorded in write.events}
            write.lots = [lot_row(touched[lot_id]) for lot_id in changed]
            try:
                await self._store.write(write)
            except KeyTaken:
                self._undo_in_memory(touched, keys)
                if not recalled:
                    await self._recall(batch)
                    await self._process(batch, recalled=True)
                    return
                log.error("an idempotency key of a batch is stored but could not be read back")
                for future, _ in answered:
                    if not future.done():
                        future.set_exception(SequencerUnavailable("the bid was not recorded; try again"))
                return
            except Exception as exc:
                log.error("auction batch of %d commands not committed: %r", len(batch), exc)
                await self._undo(touched, keys)
                for future, _ in answered:
                    if not future.done():
                        future.set_exception(SequencerUnavailable("the bid was not recorded; try again"))
                return
        self.batches += 1
        by_lot: dict[int, list[Recorded]] = {}
        for recorded in write.events:
            by_lot.setdefault(recorded.lot, []).append(recorded)
        for lot_id, events in by_lot.items():
            touched[lot_id].commit(events)
            if self.on_closed is not None and events[-1].kind == "closed":
                self.on_closed(lot_id)
        for future, result in answered:
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        if write.events and self._publish is not None:
            self._publish([feed_message(touched[r.lot].info, touched[r.lot].codes, r) for r in write.events])

    def _park(self, lot: Lot, at: int, command: Command, future: asyncio.Future[Any]) -> None:
        heapq.heappush(self._parked.setdefault(lot.info.id, []), (at, next(self._arrival), command, future))
        if self.on_deadline_change is not None:
            self.on_deadline_change()

    def _release(
        self, lot: Lot, horizon: int, write: BatchWrite, keys: list[tuple[int, str]],
        answered: list[tuple[asyncio.Future[Any], Any]],
    ) -> dict[str, Any]:
        """Everything of the lot up to the horizon, in stamp order: its deadlines (each applied
        at exactly its time) and the commands parked behind them. A parked command goes at once
        when a bid moved the deadline past it, or when the lot has closed (it is refused)."""
        was_closed = lot.book.closed
        parked = self._parked.get(lot.info.id, [])
        while True:
            deadline = lot.deadline()
            if deadline is not None and deadline <= horizon and (not parked or deadline <= parked[0][0]):
                now = max(deadline, lot.book.last_at)
                self._open_if_due(lot, now, write)
                outcome = lot.book.apply(Tick(), now)
                assert not isinstance(outcome, Rejection), outcome
                self._record(lot, outcome, now, write)
            elif parked and (parked[0][0] <= horizon or lot.book.closed
                             or parked[0][0] < (lot.book.next_deadline() or 0)):
                entry = heapq.heappop(parked)
                self._released.append((lot.info.id, entry))
                at, _, command, future = entry
                try:
                    answered.append((future, self._apply(lot, command, at, write, keys)))
                except ExchangeError as exc:
                    answered.append((future, exc))
            else:
                break
        if not parked:
            self._parked.pop(lot.info.id, None)
        return {"closed": lot.book.closed and not was_closed}

    def _undo_in_memory(self, touched: dict[int, Lot], keys: list[tuple[int, str]]) -> None:
        """Nothing of the batch was written: back to the committed state, parked commands it took
        waiting again."""
        for key in keys:
            self._answers.pop(key, None)
        for lot in touched.values():
            lot.rollback()
        for lot_id, entry in self._released:
            heapq.heappush(self._parked.setdefault(lot_id, []), entry)
        self._released = []

    async def _undo(self, touched: dict[int, Lot], keys: list[tuple[int, str]]) -> None:
        self._undo_in_memory(touched, keys)
        if self._reload is None:
            return
        # The commit may have happened even though we saw an error: the database decides.
        for lot_id in touched:
            try:
                fresh = await asyncio.wait_for(self._reload(lot_id), RELOAD_TIMEOUT_S)
            except Exception as exc:
                log.warning("lot %d kept its last committed state; reload failed: %r", lot_id, exc)
                continue
            self._lots[lot_id] = fresh

    def _apply(
        self, lot: Lot, command: Command, at: int, write: BatchWrite, keys: list[tuple[int, str]]
    ) -> Any:
        """A bid or an admission at its receipt stamp, moved to the lot's last time if earlier."""
        now = max(at, lot.book.last_at)
        if isinstance(command, PlaceBidRequest):
            return self._bid(lot, command, now, write, keys)
        assert isinstance(command, Admission)
        self._open_if_due(lot, now, write)
        bidder = str(command.account_id)
        admitted = lot.book.apply(AdmitBidder(bidder), now)
        if isinstance(admitted, Rejection):
            if admitted.code == RejectCode.DUPLICATE_BIDDER:
                return {"code": lot.book.code_of(bidder), "seq": None}
            raise Conflict(f"the bidder cannot be admitted: {admitted.reason}")
        seq = self._record(lot, admitted, now, write)
        event = admitted[0]
        assert isinstance(event, BidderAdmitted)
        write.bidders.append((lot.info.id, command.account_id, event.code, command.approved_by, now))
        return {"code": event.code, "seq": seq}

    def _bid(
        self, lot: Lot, request: PlaceBidRequest, now: int, write: BatchWrite,
        keys: list[tuple[int, str]],
    ) -> dict[str, Any]:
        if request.key is not None:
            seen = self._answers.get((request.account_id, request.key))
            if seen is not None:
                if seen[0] != request.request_hash:
                    raise Conflict("this idempotency key was already used for a different bid")
                return seen[1]
        self._open_if_due(lot, now, write)
        bidder = str(request.account_id)
        command = (PlaceBid(bidder, request.amount) if request.kind == "bid"
                   else PlaceProxyBid(bidder, request.amount))
        outcome = lot.book.apply(command, now)
        if isinstance(outcome, Rejection):
            answer = bid_answer(lot, request, now, None, outcome)
        else:
            answer = bid_answer(lot, request, now, self._record(lot, outcome, now, write), None)
        if request.key is not None:
            assert request.request_hash is not None
            keys.append((request.account_id, request.key))
            self.remember(request.account_id, request.key, request.request_hash, answer)
            write.requests.append(
                (request.account_id, request.key, lot.info.id, request.request_hash, answer, now)
            )
        return answer

    def _open_if_due(self, lot: Lot, now: int, write: BatchWrite) -> None:
        terms = lot.info.terms
        if not lot.w_opened and now >= terms.opens_at and not lot.book.closed:
            lot.w_opened = True
            lot.w_seq += 1
            write.events.append(Recorded(lot.info.id, lot.w_seq, "opened", {"at": terms.opens_at}, now))

    def _record(self, lot: Lot, events: list[EnglishEvent], now: int, write: BatchWrite) -> int | None:
        for event in events:
            lot.w_seq += 1
            close_at = lot.book.snapshot().close_at if isinstance(event, AuctionClosed) else 0
            write.events.append(
                Recorded(lot.info.id, lot.w_seq, event_kind(event), event_payload(event, close_at), now)
            )
        return lot.w_seq if events else None

def _fail(batch: list[Entry]) -> None:
    for _, future, _ in batch:
        if not future.done():
            future.set_exception(SequencerUnavailable("the bid was not recorded; try again"))
