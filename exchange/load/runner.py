"""The open workload model: requests leave at a constant arrival rate, whatever the answers do.

Request i is due at `start + i / rate`. If the generator falls behind it sends at once, but
the request's latency is still measured from the time it was due, so a stalled target
cannot hide the queue it builds (no coordinated omission). Latencies go into HDR
histograms, one for the whole run and one per second of it, per operation. Every run is
bounded: at most `rate * duration` (and `max_requests`) sends, then at most `drain_s` of
waiting for answers, after which what is still in flight is cancelled and counted as an error.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from hdrh.histogram import HdrHistogram

OUTCOMES = ("ok", "rejected", "limited", "error")
"""ok: the exchange did it; rejected: it refused by a rule (bid too low, wrong password);
limited: it answered 429 (rate limit); error: anything else (5xx, timeout, broken connection)."""

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}
_HIGHEST_US = 3_600_000_000  # an hour: far beyond any bounded run


def new_histogram() -> HdrHistogram:
    """Microseconds from 1 µs to an hour, three significant digits."""
    return HdrHistogram(1, _HIGHEST_US, 3)


@dataclass(frozen=True)
class Result:
    """What one request came to: `operation` names it in the report, `code` says why (rejections, errors)."""

    operation: str
    outcome: str
    code: str = ""


@dataclass
class Series:
    """One operation's figures: the whole run and each second of it (by completion time)."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    outcomes: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    seconds: dict[int, tuple[HdrHistogram, Counter[str]]] = field(default_factory=dict)

    def add(self, outcome: str, code: str, latency_s: float | None, second: int) -> None:
        self.outcomes[outcome] += 1
        if code:
            self.codes[f"{outcome}:{code}"] += 1
        interval = self.seconds.get(second)
        if interval is None:
            interval = self.seconds[second] = (new_histogram(), Counter())
        interval[1][outcome] += 1
        if latency_s is not None:
            micros = min(max(1, round(latency_s * 1_000_000)), _HIGHEST_US)
            self.histogram.record_value(micros)
            interval[0].record_value(micros)


def latency_ms(histogram: HdrHistogram) -> dict[str, float | None]:
    """p50, p90, p99, p99.9 and max in milliseconds; None when nothing was recorded."""
    if histogram.get_total_count() == 0:
        return dict.fromkeys([*PERCENTILES, "max", "mean"])
    found: dict[str, float | None] = {
        name: histogram.get_value_at_percentile(share) / 1000 for name, share in PERCENTILES.items()}
    found["max"] = histogram.get_max_value() / 1000
    found["mean"] = round(histogram.get_mean_value() / 1000, 3)
    return found


class Recorder:
    """Every outcome of a run, by operation; `started` is the perf_counter time of request 0."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.series: dict[str, Series] = {}
        self.sent = 0
        self.observed: set[str] = set()
        self.send_window = 0.0

    def record(self, result: Result, latency_s: float | None, done_at: float | None = None,
               *, observed: bool = False) -> None:
        """`observed`: measured beside the requests (a watcher's delivery), not one of them."""
        if observed:
            self.observed.add(result.operation)
        done_at = time.perf_counter() if done_at is None else done_at
        series = self.series.setdefault(result.operation, Series())
        series.add(result.outcome, result.code, latency_s, max(0, int(done_at - self.started)))

    def count(self, outcome: str) -> int:
        return sum(series.outcomes[outcome] for name, series in self.series.items() if name not in self.observed)


@dataclass(frozen=True)
class Plan:
    rate: float
    duration: float
    max_requests: int = 1_000_000
    drain_s: float = 30.0

    @property
    def requests(self) -> int:
        return min(self.max_requests, max(0, math.floor(self.rate * self.duration)))


Operation = Callable[[int, float], Awaitable[Result]]
"""Request `i`, due at perf_counter time `intended`; returns what came of it."""


class Progress:
    """A one-line bar on stderr, redrawn a few times a second (only on a terminal)."""

    def __init__(self, total: int, recorder: Recorder, stream: TextIO | None = None) -> None:
        self.total, self.recorder = total, recorder
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = stream is not None or sys.stderr.isatty()

    def draw(self, final: bool = False) -> None:
        if not self.enabled:
            return
        done = sum(self.recorder.count(o) for o in OUTCOMES)
        share = done / self.total if self.total else 1.0
        bar = "#" * int(30 * share)
        elapsed = time.perf_counter() - self.recorder.started
        self.stream.write(f"\r[{bar:<30}] {share:4.0%} {elapsed:6.1f}s sent {self.recorder.sent} "
                          f"ok {self.recorder.count('ok')} rejected {self.recorder.count('rejected')} "
                          f"429 {self.recorder.count('limited')} errors {self.recorder.count('error')}"
                          + ("\n" if final else ""))
        self.stream.flush()

    async def run(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.25)


async def run_open(plan: Plan, operation: Operation, recorder: Recorder,
                   progress: Progress | None = None) -> float:
    """Sends `plan.requests` requests at `plan.rate`; returns the seconds from the first send to the last answer."""
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, intended: float) -> None:
        try:
            result = await operation(i, intended)
        except Exception as exc:  # noqa: BLE001 - a failed request is a figure, not a crash
            recorder.record(Result("unknown", "error", type(exc).__name__), None)
            return
        recorder.record(result, time.perf_counter() - intended)

    drawing = asyncio.create_task(progress.run()) if progress else None
    recorder.started = started = time.perf_counter()
    for i in range(plan.requests):
        intended = started + i / plan.rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, intended))
        recorder.sent += 1
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    recorder.send_window = time.perf_counter() - started
    if tasks:
        _, late = await asyncio.wait(set(tasks), timeout=plan.drain_s)
        for task in late:
            task.cancel()
        for _ in late:
            recorder.record(Result("unanswered", "error", "timeout"), None)
        await asyncio.gather(*late, return_exceptions=True)
    elapsed = time.perf_counter() - started
    if drawing is not None and progress is not None:
        drawing.cancel()
        progress.draw(final=True)
    return elapsed


def summary(recorder: Recorder, plan: Plan, elapsed: float) -> dict[str, Any]:
    """The figures of every operation: counts by outcome, latency percentiles, achieved rate."""
    operations = {}
    answered = sum(recorder.count(o) for o in ("ok", "rejected", "limited"))
    for name, series in recorder.series.items():
        done = sum(series.outcomes.values())
        operations[name] = {
            "observed": name in recorder.observed,
            "count": done,
            **{outcome: series.outcomes[outcome] for outcome in OUTCOMES},
            "codes": dict(series.codes),
            "achieved_per_s": round(done / elapsed, 2) if elapsed else None,
            "latency_ms": latency_ms(series.histogram),
            "hdr": series.histogram.encode().decode() if series.histogram.get_total_count() else None,
            "per_second": [
                {"second": second, **{o: counts[o] for o in OUTCOMES}, "latency_ms": latency_ms(histogram)}
                for second, (histogram, counts) in sorted(series.seconds.items())
            ],
        }
    return {
        "offered_rate_per_s": plan.rate,
        "planned_requests": plan.requests,
        "sent": recorder.sent,
        "elapsed_s": round(elapsed, 3),
        "send_rate_per_s": round(recorder.sent / recorder.send_window, 2) if recorder.send_window else None,
        "achieved_rate_per_s": round(answered / elapsed, 2) if elapsed else None,
        **{f"{outcome}_total": recorder.count(outcome) for outcome in OUTCOMES},
        "operations": operations,
    }
