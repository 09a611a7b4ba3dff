"""Stopping a background task ends it even when a cancellation is lost on the way, as redis-py's
pub/sub reads lose one now and then (a feed gateway's SIGTERM then waited for ever)."""

from __future__ import annotations

import asyncio

from exchange.infra.sweeper import cancel_and_wait


async def _swallows_the_first_cancel(cancelled: list[int]) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        cancelled.append(1)  # lost: the task goes on waiting, as redis-py's read did
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.append(2)
        raise


async def test_a_task_that_loses_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    cancelled: list[int] = []
    task = asyncio.create_task(_swallows_the_first_cancel(cancelled))
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, again_after_s=0.05), timeout=5)
    assert task.cancelled() and cancelled == [1, 2]


async def test_a_task_that_ends_at_the_first_cancel_is_cancelled_once() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await cancel_and_wait(task, again_after_s=0.05)
    assert task.cancelled()
    await cancel_and_wait(None)
