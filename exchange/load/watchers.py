"""watchers: thousands of lot websockets, half on one hot lot and half across the others, while bids arrive.

The watchers live in separate processes on bare epoll sockets (the fan-out benchmark's), so
thousands of them cost this machine far less than the server they measure. Every second bid
goes to the hot lot, the rest in turn to the others. A delivery's latency runs from the
intended send time of its bid (open model) to the moment a watcher's socket returned the
frame; both clocks are this machine's.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from exchange.bench.fanout import raise_file_limit, watch_worker
from exchange.load.api import soon
from exchange.load.runner import Recorder, Result
from exchange.load.scenarios import LotMarket, Scenario, place_bid

DEFAULT_LOTS = 10
SETTLE_S = 2.0  # after the last answer, for the last frames to arrive


class Watchers(Scenario):
    name = "watchers"
    summary = "thousands of websocket watchers on one hot lot and across lots while bids arrive"
    default_rate = 10.0

    async def prepare(self) -> None:
        operator = await self.operator()
        bidders = await self.api.investors(max(2, self.options.bidders))
        count = max(1, self.options.lots if self.options.lots is not None else DEFAULT_LOTS)
        self.markets = [LotMarket(0, bidders) for _ in range(count)]
        opens = soon(3 + 0.013 * count * (len(bidders) + 4))
        end = opens + timedelta(seconds=120 + 2 * self.options.duration)  # no close during the run
        await self.auctions(self.markets, operator, opens, [end] * count)
        hot = self.markets[0].auction_id
        watchers = max(0, self.options.watchers)
        self.paths = [f"/ws/lots/{hot}"] * (watchers - watchers // 2) + [
            f"/ws/lots/{self.markets[n % count].auction_id}" for n in range(watchers // 2)]
        self.watching = Counter(int(path.rsplit("/", 1)[1]) for path in self.paths)
        self.sent_at: dict[tuple[int, int], float] = {}

    async def observe(self, recorder: Recorder) -> None:
        raise_file_limit(2 * len(self.paths) + 200)
        feed = urlsplit(self.target.feed_url)
        if feed.scheme != "ws" or feed.hostname is None or feed.port is None:
            raise ValueError("the watchers need a plain ws://host:port feed URL")
        processes = max(1, min(self.options.watcher_processes, len(self.paths)))
        context = multiprocessing.get_context("spawn")
        self.ready, self.results, self.stop = context.Queue(), context.Queue(), context.Event()
        self.workers = [context.Process(target=watch_worker, daemon=True, args=(
            feed.hostname, feed.port, self.paths[n::processes], self.ready, self.stop, self.results))
            for n in range(processes) if self.paths[n::processes]]
        started = time.perf_counter()
        for worker in self.workers:
            worker.start()
        for _ in self.workers:
            await asyncio.to_thread(self.ready.get, True, 300)
        self.connect_s = time.perf_counter() - started
        self.wall_offset = time.time() - time.perf_counter()

    def market(self, i: int) -> LotMarket:
        return self.markets[0] if i % 2 == 0 or len(self.markets) == 1 else self.markets[1 + (i // 2) % (len(self.markets) - 1)]

    async def operation(self, i: int, intended: float) -> Result:
        market = self.market(i)
        result, ack = await place_bid(self.http, market, f"watch-{self.api.run}-{i}")
        if result.outcome == "ok" and ack is not None:
            self.sent_at[(market.auction_id, int(ack["seq"]))] = intended
        return result

    async def finish(self, recorder: Recorder) -> dict[str, Any]:
        await asyncio.sleep(SETTLE_S)
        self.stop.set()
        collected = [await asyncio.to_thread(self.results.get, True, 300) for _ in self.workers]
        for worker in self.workers:
            worker.join(30)
        received = 0
        for arrivals, _ in collected:
            for arrived_at, raw in arrivals:
                for event in json.loads(raw).get("events", ()):
                    intended = self.sent_at.get((event.get("lot"), event.get("seq")))
                    if event.get("type") != "bid" or intended is None:
                        continue
                    received += 1
                    done_at = arrived_at - self.wall_offset
                    recorder.record(Result("delivery", "ok"), done_at - intended, done_at, observed=True)
        expected = sum(self.watching[lot] for lot, _ in self.sent_at)
        return {"watchers": len(self.paths), "hot_lot_watchers": self.watching[self.markets[0].auction_id],
                "lots": len(self.markets), "watcher_processes": len(self.workers),
                "connect_s": round(self.connect_s, 2), "bids_accepted": len(self.sent_at),
                "deliveries_expected": expected, "deliveries_received": received,
                "watchers_dropped": sum(dropped for _, dropped in collected),
                "delivery_latency_from": "intended send time of the bid to receipt by the watcher's socket"}
