"""The load scenarios' own data, made through the public HTTP API as any client would make it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
PASSWORD = "load-test-password-2026"  # noqa: S105 - the load test's own throwaway accounts


class SetupFailed(RuntimeError):
    """The exchange refused a set-up step; the message says which and why."""


def expect(response: httpx.Response, status: int, step: str) -> Any:
    if response.status_code != status:
        raise SetupFailed(f"{step}: {response.status_code} {response.text[:300]}")
    return response.json()


async def bounded(concurrency: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Runs the jobs at most `concurrency` at a time, results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


@dataclass(frozen=True)
class Party:
    id: int
    email: str
    headers: dict[str, str]


class ExchangeApi:
    """Set-up calls of the scenarios; `run` keeps accounts of different runs apart."""

    def __init__(self, http: httpx.AsyncClient, run: str | None = None) -> None:
        self.http = http
        self.run = run or secrets.token_hex(4)

    async def token(self, email: str, password: str) -> dict[str, str]:
        body = expect(await self.http.post("/api/tokens", json={
            "email": email, "password": password, "name": f"load {self.run}"}), 201, f"API token for {email}")
        return {"Authorization": f"Bearer {body['token']}"}

    async def register(self, role: str, name: str, *, with_token: bool = True) -> Party:
        email = f"{name}-{self.run}@load.test"
        body = expect(await self.http.post("/api/accounts", json={
            "role": role, "email": email, "password": PASSWORD, "display_name": f"Load {name} {self.run}"}),
            201, f"registering {email}")
        headers = await self.token(email, PASSWORD) if with_token else {}
        return Party(int(body["id"]), email, headers)

    async def investors(self, count: int, *, with_token: bool = True, concurrency: int = 4) -> list[Party]:
        return await bounded(concurrency, [
            partial(self.register, "investor", f"bidder{i}", with_token=with_token) for i in range(count)])

    async def lot(self, operator: dict[str, str], seller: Party, n: int, *, opens_at: datetime,
                  scheduled_end: datetime, quiet_period_s: int, start_price: int, increment: int) -> int:
        """An announced listing with no deposit (operator approval alone admits a bidder), auctioned."""
        achievement = expect(await self.http.post("/api/achievements/", headers=seller.headers, json={
            "title": f"Load-test achievement {n} ({self.run})", "summary": "Made by exchange load.",
            "field": "information_technology", "kind": "software", "funding_source": "public",
            "programme": "Load test", "maturity": "prototype"}), 201, "recording an achievement")
        listing = expect(await self.http.post("/api/listings/", headers=seller.headers, json={
            "achievement_id": achievement["id"], "listing_price": start_price, "deposit": 0,
            "terms": "Load-test terms.", "bidder_conditions": "Load-test conditions."}), 201, "submitting a listing")
        expect(await self.http.post(f"/api/listings/{listing['id']}/review", headers=operator,
                                    json={"decision": "approve"}), 200, "approving a listing")
        auction = expect(await self.http.post("/api/auctions/", headers=operator, json={
            "listing_id": listing["id"], "start_price": start_price, "increment": increment,
            "opens_at": opens_at.isoformat(), "scheduled_end": scheduled_end.isoformat(),
            "quiet_period_s": quiet_period_s}), 201,
            "scheduling an auction to open this soon (the exchange needs EXCHANGE_AUCTION_NOTICE_DAYS=0)")
        return int(auction["auction_id"])

    async def approve(self, operator: dict[str, str], auction_id: int, investor: Party) -> None:
        expect(await self.http.post(f"/api/auctions/{auction_id}/bidders", headers=operator,
                                    json={"investor_id": investor.id}), 201, "qualifying a bidder")

    async def tender(self, operator: dict[str, str], owner: Party, *, deadline: datetime, estimate: int,
                     security: int) -> dict[str, Any]:
        """A tender announced with its documents issued now and published by the operator at once."""
        announced = expect(await self.http.post("/api/tenders/", headers=owner.headers, json={
            "title": f"Load-test tender ({self.run})", "summary": "Made by exchange load.", "estimate": estimate,
            "security": security, "documents_issued_at": datetime.now(UTC).isoformat(),
            "deadline": deadline.isoformat()}), 201,
            "announcing a tender with a deadline this soon (the exchange needs EXCHANGE_TENDER_MIN_DAYS_TO_DEADLINE=0)")
        published: dict[str, Any] = expect(await self.http.post(
            f"/api/tenders/{announced['id']}/review", headers=operator, json={"decision": "approve"}),
            200, "publishing a tender")
        return published

    async def hold_security(self, operator: dict[str, str], tender_id: int, bidder: Party) -> None:
        """The bidder's bid security, its bank transfer (reference S…) matched by the operator."""
        security = expect(await self.http.post(f"/api/tenders/{tender_id}/security", headers=bidder.headers),
                          201, "requesting a bid security")
        expect(await self.http.post("/api/tender-securities/bank-transfers", headers=operator, json={
            "reference_code": security["reference_code"], "amount": security["amount"],
            "statement_ref": f"LOAD-{security['reference_code']}"}), 201, "matching a bid security's transfer")

    async def read_tender(self, tender_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
        tender: dict[str, Any] = expect(await self.http.get(f"/api/tenders/{tender_id}", headers=headers),
                                        200, "reading the tender")
        return tender

    async def room(self, auction_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
        room: dict[str, Any] = expect(await self.http.get(f"/api/auctions/{auction_id}", headers=headers),
                                      200, "reading the room")
        return room

    async def wait_open(self, auction_ids: Sequence[int], timeout_s: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        for auction_id in auction_ids:
            while (await self.room(auction_id))["phase"] != "free":
                if asyncio.get_running_loop().time() > deadline:
                    raise SetupFailed(f"auction {auction_id} did not open within {timeout_s:.0f} s")
                await asyncio.sleep(0.2)


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def classify(response: httpx.Response, ok: int) -> tuple[str, str]:
    """(outcome, code) of an answer: `ok` status, a rule's refusal (4xx with a code), 429, or an error."""
    status = response.status_code
    if status == ok:
        return "ok", ""
    if status == 429:
        return "limited", "429"
    if status in (401, 409, 422):
        try:
            code = str(response.json().get("code") or status)
        except ValueError:
            code = str(status)
        return "rejected", code
    return "error", str(status)
