"""The English auction book (拍卖 / 网络竞价): the fast engine on the hot path.

Rules (README.md has the full statement):
- the first bid is the start price plus k >= 0 increments applicable at the start price;
  later bids are the current price plus k >= 1 increments applicable at the current price;
  a proxy maximum must be such an amount too;
- the leader is the highest commitment (straight bid or maximum), the earlier on equal
  amounts; the price is the least amount on that grid at which the leader holds against
  every other commitment, lifted to the reserve when the leader's maximum reaches it;
- every accepted bid moves the close to at least `now + quiet_period` (capped): free
  bidding ends at the scheduled end and one full quiet period of timed rounds follows.

Only the leader's maximum is kept: every other commitment is at or below the price and
later than the leader's, so it can never win again.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import TypeAlias

from matching_core.codes import MAX_AMOUNT, RejectCode, Rejection, is_id, is_time, reject
from matching_core.common import (
    AdmitBidder,
    BidderAdmitted,
    Tick,
    bidder_code,
    digest,
)
from matching_core.english_types import (
    CMD_ADMIT,
    CMD_PROXY,
    EV_ADMITTED,
    EV_BID,
    EV_CLOSED,
    BidAccepted,
    EnglishCommand,
    EnglishEvent,
    EnglishSnapshot,
    EnglishTerms,
    PlaceBid,
    PlaceProxyBid,
    RawCommand,
    RawEvent,
    event_from_raw,
    initial_close,
    raw_command,
    terms_problem,
)

OK = 0
_Emit: TypeAlias = Callable[[RawEvent], None]
_STALE = int(RejectCode.STALE_TIME)
_CLOSED = int(RejectCode.AUCTION_CLOSED)
_NOT_OPEN = int(RejectCode.NOT_OPEN)
_INVALID_AMOUNT = int(RejectCode.INVALID_AMOUNT)
_UNKNOWN = int(RejectCode.UNKNOWN_BIDDER)
_LEADING = int(RejectCode.ALREADY_LEADING)
_NOT_RAISED = int(RejectCode.MAX_NOT_RAISED)
_BELOW_START = int(RejectCode.BELOW_START)
_BELOW_MIN = int(RejectCode.BELOW_MINIMUM)
_NOT_WHOLE = int(RejectCode.NOT_WHOLE_INCREMENT)


class EnglishBook:
    __slots__ = (
        "_terms", "_start", "_reserve", "_opens_at", "_quiet", "_cap", "_fixed", "_bounds",
        "_steps", "_bidders", "_price", "_leader", "_lmax", "_close_at", "_last_at", "_bids",
        "_closed", "_sold",
    )  # fmt: skip

    def __init__(self, terms: EnglishTerms) -> None:
        problem = terms_problem(terms)
        if problem is not None:
            raise ValueError(problem)
        self._terms = terms
        self._start = terms.start_price
        self._reserve = terms.reserve or 0
        self._opens_at = terms.opens_at
        self._quiet = terms.quiet_period
        self._cap = MAX_AMOUNT if terms.hard_cap is None else terms.hard_cap
        self._bounds = [band.from_price for band in terms.increments]
        self._steps = [band.step for band in terms.increments]
        # 0 means "look the band up"; a single band skips the bisect on every bid
        self._fixed = self._steps[0] if len(self._steps) == 1 else 0
        self._bidders: dict[str, str] = {}
        self._price = 0
        self._leader = ""
        self._lmax = 0
        self._close_at = initial_close(terms)
        self._last_at = 0
        self._bids = 0
        self._closed = False
        self._sold = False

    # -- queries ---------------------------------------------------------------

    @property
    def terms(self) -> EnglishTerms:
        return self._terms

    @property
    def price(self) -> int:
        return self._price

    @property
    def leader(self) -> str:
        return self._leader

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_at(self) -> int:
        """The time of the last event applied; a command at an earlier time is stale."""
        return self._last_at

    def code_of(self, bidder: str) -> str | None:
        return self._bidders.get(bidder)

    def step_at(self, price: int) -> int:
        return self._fixed or self._steps[bisect_right(self._bounds, price) - 1]

    def minimum_bid(self) -> int:
        if not self._price:
            return self._start
        return self._price + self.step_at(self._price)

    def next_deadline(self) -> int | None:
        return None if self._closed else self._close_at

    # -- commands --------------------------------------------------------------

    def apply(self, command: EnglishCommand, now: int) -> list[EnglishEvent] | Rejection:
        if not is_time(now):
            return reject(RejectCode.INVALID_TIME)
        if not isinstance(command, PlaceBid | PlaceProxyBid | AdmitBidder | Tick):
            return reject(RejectCode.INVALID_COMMAND)
        if isinstance(command, PlaceBid | PlaceProxyBid) and not is_id(command.bidder):
            return reject(RejectCode.INVALID_BIDDER)
        out: list[RawEvent] = []
        code = self.apply_many((raw_command(command, now),), out)[0]
        if code:
            return reject(code)
        return [event_from_raw(raw) for raw in out]

    def tick(self, now: int) -> list[EnglishEvent] | Rejection:
        return self.apply(Tick(), now)

    def apply_many(self, commands: Iterable[RawCommand], out: list[RawEvent]) -> list[int]:
        """Batch hot path: appends raw events to `out`, returns one code per command (0 = ok).

        Commands are trusted to be well-typed (the sequencer built them); amounts are still
        range-checked. Equivalent to calling `apply` for each command in order.
        """
        codes: list[int] = []
        push = codes.append
        emit = out.append
        bisect = bisect_right
        bidders = self._bidders
        start = self._start
        reserve = self._reserve
        opens_at = self._opens_at
        quiet = self._quiet
        cap = self._cap
        fixed = self._fixed
        bounds = self._bounds
        steps = self._steps
        # prices only rise, so the band of the last price almost always still applies
        band_lo = band_hi = band_step = 0
        price = self._price
        leader = self._leader
        lmax = self._lmax
        close_at = self._close_at
        last_at = self._last_at
        bids = self._bids
        cmd_admit, cmd_proxy, ev_bid, ok, max_amount = CMD_ADMIT, CMD_PROXY, EV_BID, OK, MAX_AMOUNT
        for kind, bidder, amount, now in commands:
            if kind >= cmd_admit:
                self._price, self._leader, self._lmax = price, leader, lmax
                self._close_at, self._last_at, self._bids = close_at, last_at, bids
                push(self._admit(bidder, now, emit) if kind == CMD_ADMIT else self._tick(now, emit))
                last_at = self._last_at
                continue
            if not (last_at <= now < close_at and now >= opens_at):
                push(_STALE if now < last_at else _CLOSED if now >= close_at else _NOT_OPEN)
                continue
            if not 0 < amount <= max_amount:
                push(_INVALID_AMOUNT)
                continue
            if bidder not in bidders:
                push(_UNKNOWN)
                continue
            if price:
                base = price
                if fixed:
                    step = fixed
                elif band_lo <= price < band_hi:
                    step = band_step
                else:
                    band = bisect(bounds, price)
                    band_lo = bounds[band - 1]
                    band_hi = bounds[band] if band < len(bounds) else max_amount + 1
                    step = band_step = steps[band - 1]
                if bidder == leader:
                    if kind != cmd_proxy:
                        push(_LEADING)
                        continue
                    if amount <= lmax:
                        push(_NOT_RAISED)
                        continue
                    if (amount - price) % step:
                        push(_NOT_WHOLE)
                        continue
                    lmax = amount
                else:
                    if amount < price + step:
                        push(_BELOW_MIN)
                        continue
                    if (amount - price) % step:
                        push(_NOT_WHOLE)
                        continue
                    if amount <= lmax:
                        # the leader's earlier maximum covers it: time priority
                        price = amount
                    else:
                        if kind == cmd_proxy:
                            price += ((lmax - price) // step + 1) * step
                        else:
                            price = amount
                        leader = bidder
                        lmax = amount
            else:
                base = start
                step = fixed or steps[bisect(bounds, start) - 1]
                if amount < start:
                    push(_BELOW_START)
                    continue
                if (amount - start) % step:
                    push(_NOT_WHOLE)
                    continue
                price = start if kind == cmd_proxy else amount
                leader = bidder
                lmax = amount
            if price < reserve <= lmax:
                # a maximum that reaches the reserve lies on the grid from `base`: no overshoot
                price = base - ((base - reserve) // step) * step
            bids += 1
            last_at = now
            extended = now + quiet
            if extended > close_at:
                close_at = extended if extended < cap else cap
            emit((ev_bid, bidder, amount, kind == cmd_proxy, now, leader, price, lmax, close_at))
            push(ok)
        self._price, self._leader, self._lmax = price, leader, lmax
        self._close_at, self._last_at, self._bids = close_at, last_at, bids
        return codes

    def _admit(self, bidder: str, now: int, emit: _Emit) -> int:
        if now < self._last_at:
            return _STALE
        if now >= self._close_at:
            return _CLOSED
        if not is_id(bidder):
            return int(RejectCode.INVALID_BIDDER)
        if bidder in self._bidders:
            return int(RejectCode.DUPLICATE_BIDDER)
        code = bidder_code(len(self._bidders))
        self._bidders[bidder] = code
        self._last_at = now
        emit((EV_ADMITTED, bidder, code, now))
        return OK

    def _tick(self, now: int, emit: _Emit) -> int:
        if now < self._last_at:
            return _STALE
        if self._closed or now < self._close_at:
            return OK
        self._closed = True
        self._sold = self._price > 0 and self._price >= self._reserve
        self._last_at = now
        if self._sold:
            emit((EV_CLOSED, now, True, self._leader, self._price))
        else:
            emit((EV_CLOSED, now, False, "", 0))
        return OK

    # -- persistence -----------------------------------------------------------

    def apply_event(self, event: EnglishEvent) -> None:
        """Replay one event produced by `apply` (of this or an identical book)."""
        if isinstance(event, BidderAdmitted):
            self._bidders[event.bidder] = event.code
        elif isinstance(event, BidAccepted):
            self._price = event.price
            self._leader = event.leader
            self._lmax = event.leader_max
            self._close_at = event.close_at
            self._bids += 1
        else:
            self._closed = True
            self._sold = event.sold
        self._last_at = event.at

    @classmethod
    def from_events(cls, terms: EnglishTerms, events: Iterable[EnglishEvent]) -> EnglishBook:
        book = cls(terms)
        for event in events:
            book.apply_event(event)
        return book

    def snapshot(self) -> EnglishSnapshot:
        return EnglishSnapshot(
            terms=self._terms,
            bidders=list(self._bidders),
            price=self._price,
            leader=self._leader,
            leader_max=self._lmax,
            close_at=self._close_at,
            last_at=self._last_at,
            bid_count=self._bids,
            closed=self._closed,
            sold=self._sold,
        )

    @classmethod
    def restore(cls, snapshot: EnglishSnapshot) -> EnglishBook:
        book = cls(snapshot.terms)
        book._bidders = {bidder: bidder_code(i) for i, bidder in enumerate(snapshot.bidders)}
        book._price = snapshot.price
        book._leader = snapshot.leader
        book._lmax = snapshot.leader_max
        book._close_at = snapshot.close_at
        book._last_at = snapshot.last_at
        book._bids = snapshot.bid_count
        book._closed = snapshot.closed
        book._sold = snapshot.sold
        return book

    def state_hash(self) -> str:
        return digest(self.snapshot())
