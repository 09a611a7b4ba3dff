"""The load scenarios: what each sets up through the API and what one of its requests is.

hotlot      a bidding war on one lot across its scheduled end, into timed rounds (限时报价)
many-lots   hundreds of auctions at once; bidders favour a few lots, read rooms, jump, use proxies
login-storm investors logging in at once, a share of them with a wrong password
tender-rush sealed proposals (招标) arriving in the last seconds before a tender's deadline
watchers    (exchange.load.watchers) thousands of websocket watchers while bids arrive
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import httpx

from exchange.load.api import PASSWORD, ExchangeApi, Party, bounded, classify, soon
from exchange.load.runner import Recorder, Result

START_PRICE = 1_000_000
STEP = 1_000


@dataclass(frozen=True)
class Options:
    rate: float = 50.0
    duration: float = 20.0
    bidders: int = 20
    watchers: int = 1_000
    lots: int | None = None  # each scenario has its own default
    quiet_period_s: int = 5
    wrong_password_share: float = 0.05
    watcher_processes: int = 2
    seed: int = 1
    operator_email: str = "operator@exchange.demo"
    operator_password: str = "operator-pass-2026"  # noqa: S105 - the public demo operator's


@dataclass(frozen=True)
class Target:
    url: str
    feed_url: str


class LotMarket:
    """What a bidder knows of one lot: the minimum the exchange last told, the amount last sent."""

    def __init__(self, auction_id: int, bidders: list[Party]) -> None:
        self.auction_id = auction_id
        self.bidders = bidders
        self.minimum = START_PRICE
        self.next = START_PRICE
        self.turn = 0

    def amount(self, jump: int = 0) -> int:
        amount = max(self.next, self.minimum) + jump * STEP
        self.next = amount + STEP
        return amount

    def bidder(self) -> Party:
        """Bidders take turns, so a bid rarely comes from the one who leads."""
        self.turn += 1
        return self.bidders[self.turn % len(self.bidders)]

    def learn(self, ack: dict[str, Any] | None) -> None:
        if ack and isinstance(ack.get("minimum_bid"), int):
            self.minimum = max(self.minimum, ack["minimum_bid"])


async def place_bid(http: httpx.AsyncClient, market: LotMarket, key: str, *, kind: str = "bid",
                    jump: int = 0) -> tuple[Result, dict[str, Any] | None]:
    """One bid over HTTP with its Idempotency-Key; the ack (accepted or refused) when there is one."""
    bidder = market.bidder()
    response = await http.post(f"/api/lots/{market.auction_id}/bids", json={"amount": market.amount(jump), "kind": kind},
                               headers=bidder.headers | {"Idempotency-Key": key})
    outcome, code = classify(response, 201)
    ack: dict[str, Any] | None = None
    if outcome == "ok":
        ack = response.json()
    elif outcome == "rejected" and response.status_code == 422:
        ack = response.json().get("ack")
    market.learn(ack)
    return Result("bid", outcome, code), ack


class Scenario:
    """Set up through the API (`prepare`), then `operation(i)` at the plan's rate, then `finish`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    default_rate: ClassVar[float] = 50.0
    settings: ClassVar[dict[str, str]] = {"EXCHANGE_AUCTION_NOTICE_DAYS": "0"}
    """EXCHANGE_* settings of an exchange started by `exchange load` for this scenario (auctions
    open moments after they are scheduled, so no 7-day auction notice)."""

    def __init__(self, api: ExchangeApi, target: Target, options: Options) -> None:
        self.api, self.target, self.options = api, target, options
        self.http = api.http
        self.rng = random.Random(options.seed)

    async def operator(self) -> dict[str, str]:
        return await self.api.token(self.options.operator_email, self.options.operator_password)

    async def prepare(self) -> None:
        raise NotImplementedError

    async def operation(self, i: int, intended: float) -> Result:
        raise NotImplementedError

    async def observe(self, recorder: Recorder) -> None:
        """Starts anything measured beside the requests (watchers); nothing by default."""

    async def finish(self, recorder: Recorder) -> dict[str, Any]:
        return {}

    async def auctions(self, markets: list[LotMarket], operator: dict[str, str], opens_at: datetime,
                       ends: list[datetime]) -> None:
        """Schedules one auction per market, qualifies its bidders, and waits until all are open."""
        seller = await self.api.register("institution", "seller")
        ids = await bounded(4, [
            partial(self.api.lot, operator, seller, n, opens_at=opens_at, scheduled_end=ends[n],
                    quiet_period_s=self.options.quiet_period_s, start_price=START_PRICE, increment=STEP)
            for n in range(len(markets))])
        for market, auction_id in zip(markets, ids, strict=True):
            market.auction_id = auction_id
        await bounded(4, [partial(self.api.approve, operator, m.auction_id, b) for m in markets for b in m.bidders])
        await self.api.wait_open(ids)


class HotLot(Scenario):
    name = "hotlot"
    summary = "a bidding war on one lot across its scheduled end, into timed rounds"

    async def prepare(self) -> None:
        operator = await self.operator()
        bidders = await self.api.investors(max(2, self.options.bidders))
        self.market = LotMarket(0, bidders)
        opens = soon(2 + 0.05 * len(bidders))
        # Free bidding ends half-way through the run: the second half is timed rounds, each
        # accepted bid restarting the quiet period.
        end = opens + timedelta(seconds=1 + self.options.duration / 2)
        await self.auctions([self.market], operator, opens, [end])

    async def operation(self, i: int, intended: float) -> Result:
        result, _ = await place_bid(self.http, self.market, f"hotlot-{self.api.run}-{i}")
        return result

    async def finish(self, recorder: Recorder) -> dict[str, Any]:
        room = await self.api.room(self.market.auction_id)
        end, close = (datetime.fromisoformat(room[k]) for k in ("scheduled_end", "close_at"))
        return {"auction_id": self.market.auction_id, "phase_at_end": room["phase"],
                "bids_committed": room["bid_count"], "final_price": room["price"],
                "scheduled_end": room["scheduled_end"], "close_at": room["close_at"],
                "extended_beyond_scheduled_end_s": round((close - end).total_seconds(), 3)}


class ManyLots(Scenario):
    name = "many-lots"
    summary = "hundreds of concurrent auctions; bidders favour a few lots, read rooms, jump and use proxies"
    default_rate = 100.0
    bidders_per_lot = 6
    default_lots = 200

    async def prepare(self) -> None:
        operator = await self.operator()
        bidders = await self.api.investors(max(2, self.options.bidders))
        count = max(1, self.options.lots if self.options.lots is not None else self.default_lots)
        per_lot = min(len(bidders), self.bidders_per_lot)
        self.markets = [LotMarket(0, [bidders[(3 * n + j) % len(bidders)] for j in range(per_lot)])
                        for n in range(count)]
        opens = soon(3 + 0.013 * count * (per_lot + 4))  # about the time the set-up calls take
        # Closes spread over the second half of the run, each followed by timed rounds.
        ends = [opens + timedelta(seconds=2 + self.options.duration * (0.5 + 0.5 * n / count)) for n in range(count)]
        await self.auctions(self.markets, operator, opens, ends)
        weights = [1 / (n + 1) ** 0.8 for n in range(count)]  # a few popular lots, a long tail
        total = sum(weights)
        self.popularity = [sum(weights[: n + 1]) / total for n in range(count)]

    async def operation(self, i: int, intended: float) -> Result:
        market = self.rng.choices(self.markets, cum_weights=self.popularity)[0]
        roll = self.rng.random()
        if roll < 0.25:
            response = await self.http.get(f"/api/auctions/{market.auction_id}")
            outcome, code = classify(response, 200)
            return Result("room", outcome, code)
        key = f"many-{self.api.run}-{i}"
        if roll < 0.32:
            result, _ = await place_bid(self.http, market, key, kind="proxy", jump=self.rng.randint(3, 10))
        else:
            result, _ = await place_bid(self.http, market, key, jump=self.rng.randint(1, 4) if roll > 0.9 else 0)
        return result

    async def finish(self, recorder: Recorder) -> dict[str, Any]:
        rooms = await bounded(8, [partial(self.api.room, m.auction_id) for m in self.markets])
        phases: dict[str, int] = {}
        for room in rooms:
            phases[room["phase"]] = phases.get(room["phase"], 0) + 1
        return {"lots": len(rooms), "bids_committed": sum(room["bid_count"] for room in rooms),
                "lots_by_phase_at_end": phases}


class LoginStorm(Scenario):
    name = "login-storm"
    summary = "investors logging in at once (browser sessions), a share with a wrong password"
    default_rate = 10.0

    async def prepare(self) -> None:
        self.accounts = await self.api.investors(max(1, self.options.bidders), with_token=False)
        share = self.options.wrong_password_share
        self.wrong_every = round(1 / share) if share > 0 else 0
        self.wrong_sent = 0

    async def operation(self, i: int, intended: float) -> Result:
        wrong = bool(self.wrong_every) and i % self.wrong_every == self.wrong_every - 1
        # A wrong password goes to any account, not always to the one whose turn falls on it.
        account = self.accounts[self.rng.randrange(len(self.accounts)) if wrong else i % len(self.accounts)]
        self.wrong_sent += wrong
        response = await self.http.post("/api/session", json={
            "email": account.email, "password": "not-the-password" if wrong else PASSWORD})
        outcome, code = classify(response, 200)
        return Result("login", outcome, "wrong_password" if outcome == "rejected" and wrong else code)

    async def finish(self, recorder: Recorder) -> dict[str, Any]:
        return {"accounts": len(self.accounts), "wrong_password_attempts": self.wrong_sent}


class TenderRush(Scenario):
    """Each bidder holds a bid security, then sends one sealed proposal; the window ends just
    before the tender's deadline and the first submissions crowd into its end (half of the
    bidders in its last fifth). The other requests are bidders retrying their proposal with
    the same Idempotency-Key, as clients do when an answer is slow; a retry must be answered
    with the first receipt, never make a second proposal."""

    name = "tender-rush"
    summary = "sealed tender proposals crowding in before the deadline, with retries of the same proposal"
    default_rate = 20.0
    settings = {"EXCHANGE_TENDER_MIN_DAYS_TO_DEADLINE": "0", "EXCHANGE_TENDER_SWEEP_S": "0.5"}
    estimate = 100_000_000
    deadline_after_window_s = 1.0

    async def prepare(self) -> None:
        self.operator_headers = await self.operator()
        owner = await self.api.register("institution", "tender-owner")
        self.bidders = await self.api.investors(max(3, self.options.bidders))  # 3: the fewest that are opened
        # Time for the securities, then the whole window; `prepare` waits out what is left of the
        # estimate, so the window always ends just before the deadline.
        window_starts = soon(3 + 0.1 * len(self.bidders))
        self.deadline = window_starts + timedelta(seconds=self.options.duration + self.deadline_after_window_s)
        tender = await self.api.tender(self.operator_headers, owner, deadline=self.deadline, estimate=self.estimate,
                                       security=self.estimate // 50)
        self.tender_id, self.reference_no = int(tender["id"]), str(tender["reference_no"])
        await bounded(4, [partial(self.api.hold_security, self.operator_headers, self.tender_id, b)
                          for b in self.bidders])
        await asyncio.sleep(max(0.0, (window_starts - datetime.now(window_starts.tzinfo)).total_seconds()))
        self.planned = max(1, math.floor(self.options.rate * self.options.duration))
        self.first_sent = 0
        self.accepted = 0

    def _first_submission_due(self, i: int) -> bool:
        """Cumulative first submissions follow (t / window)^3 of the bidders: the rush at the end."""
        due = math.ceil(len(self.bidders) * ((i + 1) / self.planned) ** 3)
        return self.first_sent < min(len(self.bidders), due)

    async def operation(self, i: int, intended: float) -> Result:
        if self._first_submission_due(i):
            n, operation = self.first_sent, "proposal"
            self.first_sent += 1
        else:
            n, operation = self.rng.randrange(self.first_sent), "retry"
        bidder = self.bidders[n]
        response = await self.http.post(
            f"/api/tenders/{self.tender_id}/proposals", headers=bidder.headers | {
                "Idempotency-Key": f"tender-rush-{self.api.run}-{n}"},
            json={"price": self.estimate * (80 + n % 20) // 100, "technical": f"Load-test proposal of bidder {n}."})
        outcome, code = classify(response, 201)
        if response.status_code == 200:
            outcome, code = "ok", "replayed"
        self.accepted += response.status_code == 201
        return Result(operation, outcome, code)

    async def finish(self, recorder: Recorder) -> dict[str, Any]:
        """Waits for the sweep to open the tender (or call a re-tender) after its deadline."""
        tender = await self.api.read_tender(self.tender_id, self.operator_headers)
        give_up = self.deadline + timedelta(seconds=30)
        while tender["status"] == "open" and datetime.now(give_up.tzinfo) < give_up:
            await asyncio.sleep(0.25)
            tender = await self.api.read_tender(self.tender_id, self.operator_headers)
        opening = tender["opening"] or []
        return {"tender_id": self.tender_id, "reference_no": self.reference_no, "deadline": tender["deadline"],
                "bidders": len(self.bidders), "bidders_who_sent": self.first_sent,
                "proposals_accepted": self.accepted, "proposals_recorded": tender["proposals"],
                "status_after_deadline": tender["status"], "opened": len(opening),
                "revealed_at_opening": sum(1 for p in opening if p["revealed"])}
