"""Revocations reach every process: announced in the revoking transaction, heard by listeners."""

from __future__ import annotations

import asyncio

from exchange.accounts import revocations
from exchange.accounts.revocations import RevocationListener
from exchange.services import Services


async def test_a_revocation_is_heard_once_committed_and_a_lost_connection_means_forget_everything(
    services: Services, database_url: str,
) -> None:
    heard: list[tuple[str, str]] = []
    missed = asyncio.Event()

    async def forget_everything() -> None:
        missed.set()

    listener = RevocationListener(database_url)
    listener.on_revoked.append(lambda what, key: heard.append((what, key)))
    listener.on_missed.append(forget_everything)
    listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        async with services.pool.acquire() as conn:
            async with conn.transaction():
                await revocations.announce(conn, "token", "ab12")
                await asyncio.sleep(0.2)
                assert heard == [], "nothing is heard before the revocation commits"
            rolled_back = conn.transaction()
            await rolled_back.start()
            await revocations.announce(conn, "session", "never")
            await rolled_back.rollback()
        async with asyncio.timeout(5):
            while not heard:  # noqa: ASYNC110 - the listener's callback appends
                await asyncio.sleep(0.02)
        assert heard == [("token", "ab12")]

        async with services.pool.acquire() as conn:  # the listening connection is cut
            cut = await conn.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                   WHERE datname = current_database() AND application_name = 'exchange-revocations'""")
        assert cut >= 1
        await asyncio.wait_for(missed.wait(), 10)
        await asyncio.wait_for(listener.listening.wait(), 10)
    finally:
        await listener.stop()


async def test_a_logout_and_a_revoked_token_are_forgotten_by_this_process_at_once(
    services: Services,
) -> None:
    session = services.sessions.new()
    await services.sessions.save(session)
    assert await services.sessions.load(session.id) is not None
    await services.sessions.destroy(session)
    assert await services.sessions.load(session.id) is None
