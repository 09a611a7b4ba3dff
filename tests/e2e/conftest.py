"""A real exchange process (the `exchange run` command) and real Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.infra.processes import die_with_parent
from tests.integration.helpers import free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
STARTED_WITH: dict[str, list[dict[str, Any]]] = {}
"""URL of each exchange `exchange_server` started -> its auctions once it was healthy, before
any test acted on it: what it set up by itself at start (the demo's auction)."""


@contextmanager
def exchange_server(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, var_dir: Path, database: str,
    settings: dict[str, str] | None = None, *, fresh: bool = True,
) -> Iterator[str]:
    """`exchange run` on a fresh database (or, not `fresh`, on what `database` holds: a restart) with
    the demo data and `settings`; its URL once healthy."""
    if fresh:
        pg_server.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        pg_server.psql(f"CREATE DATABASE {database}")
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": pg_server.url(database), "REDIS_URL": redis_server.url, "EXCHANGE_VAR_DIR": str(var_dir),
        "EXCHANGE_LOAD_DEMO": "1", "EXCHANGE_LOG_LEVEL": "WARNING", "EXCHANGE_FEED_PORT": str(free_port()),
        # browser tests open auctions moments after scheduling them; the notice rule has its own tests
        "EXCHANGE_AUCTION_NOTICE_DAYS": "0",
        # the demo users log in again and again, test after test, against one Redis; the limits have their tests
        "EXCHANGE_LOGIN_PER_ACCOUNT": "100000", "EXCHANGE_LOGIN_PER_ADDRESS": "100000",
    } | (settings or {})
    log = (var_dir / "server.log").open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "run", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - a crashed test run leaves no exchange behind
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).json().get("engine") == "ok":
                break
        except (httpx.HTTPError, ValueError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the exchange did not start:\n{(var_dir / 'server.log').read_text()}")
        time.sleep(0.2)
    try:
        STARTED_WITH[url] = httpx.get(f"{url}/api/auctions/", timeout=10).json()
        yield url
    finally:
        process.terminate()
        process.wait(15)
        log.close()


DEMO_PASSWORD = "demo-pass-2026"


def api_client(url: str, email: str, password: str = DEMO_PASSWORD) -> httpx.Client:
    """A synchronous API client holding a fresh token of `email`."""
    client = httpx.Client(base_url=url, timeout=10)
    answer = client.post("/api/tokens", json={"email": email, "password": password, "name": "e2e"})
    assert answer.status_code == 201, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client


async def logged_in(
    browser: Browser, url: str, email: str, password: str = DEMO_PASSWORD, *, then: str = "/account",
    locale: str = "en-GB",
) -> Page:
    """A browser context of its own, logged in through the login page, landed on `then`."""
    context = await browser.new_context(locale=locale)
    page = await context.new_page()
    await page.goto(f"{url}/login?lang=en&next={then}")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("main form button[type=submit]")
    await page.wait_for_url(f"{url}{then}")
    return page


@pytest.fixture(scope="session")
def live_server(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with exchange_server(pg_server, redis_server, tmp_path_factory.mktemp("e2e-var"), "e2e") as url:
        yield url


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; install Debian's chromium package (the README's make test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()
