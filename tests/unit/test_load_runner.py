"""The open-model runner of `exchange load`: intended-time latency, bounds, HDR percentiles."""

from __future__ import annotations

import asyncio
import time

from exchange.load.runner import (
    Plan,
    Recorder,
    Result,
    latency_ms,
    new_histogram,
    run_open,
    summary,
)


async def test_a_stalled_target_shows_its_queue_in_the_latency() -> None:
    """A target serving one request at a time in 20 ms, offered 200/s: each answer takes 20 ms
    of service, but request i waits for the i before it, so the latency from its intended
    send time grows: the last one, due at 245 ms, is answered at about 1000 ms. A closed-loop
    measure would report 20 ms."""
    lock = asyncio.Lock()

    async def slow(i: int, intended: float) -> Result:
        async with lock:
            await asyncio.sleep(0.02)
        return Result("bid", "ok")

    recorder = Recorder()
    await run_open(Plan(rate=200, duration=0.25), slow, recorder)
    figures = latency_ms(recorder.series["bid"].histogram)
    assert recorder.series["bid"].outcomes["ok"] == 50
    assert figures["max"] is not None and figures["max"] >= 700
    assert figures["p50"] is not None and figures["p50"] >= 10 * 20


async def test_the_run_is_bounded_in_count_and_time() -> None:
    calls: list[int] = []

    async def never_answers(i: int, intended: float) -> Result:
        calls.append(i)
        await asyncio.sleep(3600)
        return Result("bid", "ok")

    recorder = Recorder()
    started = time.perf_counter()
    await run_open(Plan(rate=1000, duration=10, max_requests=30, drain_s=0.2), never_answers, recorder)
    assert time.perf_counter() - started < 5
    assert len(calls) == recorder.sent == 30
    assert recorder.series["unanswered"].outcomes["error"] == 30
    assert recorder.series["unanswered"].codes == {"error:timeout": 30}


async def test_every_outcome_is_counted_and_a_crash_is_an_error() -> None:
    async def mixed(i: int, intended: float) -> Result:
        if i % 4 == 3:
            raise ConnectionResetError("gone")
        return Result("login", ("ok", "rejected", "limited")[i % 4], "wrong_password" if i % 4 == 1 else "")

    recorder = Recorder()
    elapsed = await run_open(Plan(rate=500, duration=0.08), mixed, recorder)
    figures = summary(recorder, Plan(rate=500, duration=0.08), elapsed)
    assert figures["sent"] == figures["planned_requests"] == 40
    assert (figures["ok_total"], figures["rejected_total"], figures["limited_total"], figures["error_total"]) == (10, 10, 10, 10)
    assert figures["operations"]["login"]["codes"] == {"rejected:wrong_password": 10}
    assert figures["operations"]["unknown"]["codes"] == {"error:ConnectionResetError": 10}


def test_percentiles_come_from_the_hdr_histogram() -> None:
    histogram = new_histogram()
    for ms in range(1, 1001):
        histogram.record_value(ms * 1000)
    figures = latency_ms(histogram)
    assert abs(figures["p50"] - 500) <= 1  # type: ignore[operator]
    assert abs(figures["p90"] - 900) <= 1  # type: ignore[operator]
    assert abs(figures["p99"] - 990) <= 1  # type: ignore[operator]
    assert abs(figures["p99.9"] - 999) <= 1  # type: ignore[operator]
    assert abs(figures["max"] - 1000) <= 1  # type: ignore[operator]
    assert latency_ms(new_histogram())["p99"] is None


def test_observed_deliveries_stay_out_of_the_request_totals() -> None:
    recorder = Recorder()
    recorder.record(Result("bid", "ok"), 0.01)
    recorder.record(Result("delivery", "ok"), 0.02, observed=True)
    recorder.record(Result("delivery", "ok"), 0.03, observed=True)
    figures = summary(recorder, Plan(rate=1, duration=1), 1.0)
    assert figures["ok_total"] == 1
    assert figures["operations"]["delivery"]["observed"] is True
    assert figures["operations"]["delivery"]["count"] == 2
    assert [s["ok"] for s in figures["operations"]["delivery"]["per_second"]] == [2]
