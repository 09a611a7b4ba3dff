"""Locust users that drive the exchange's public API, for teams that already use Locust.

    .venv/bin/pip install -e '.[load]'        # locust is an optional extra, not a dependency
    .venv/bin/locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \\
        --users 50 --spawn-rate 10 --run-time 1m --headless

At the start of a run the operator (LOAD_OPERATOR_EMAIL / LOAD_OPERATOR_PASSWORD, by default
the demo operator of `make run`) schedules one lot through the API, with no deposit, open
for an hour (the exchange needs EXCHANGE_AUCTION_NOTICE_DAYS=0 to let it open at once);
every Bidder registers an investor of its own and is qualified for that lot.
Users: Bidder (one increment above the price it last saw, with an Idempotency-Key),
RoomReader (the room and the events after the last sequence, as a polling client),
LoginUser (logins, a few with a wrong password; 429 answers are reported as such), and
TenderBidder (as `exchange load tender-rush`: a held bid security, then its sealed proposal
and retries of it with the same Idempotency-Key). The tender's deadline is
LOAD_TENDER_DEADLINE_S seconds after the start (default 3600), which the exchange accepts
only with EXCHANGE_TENDER_MIN_DAYS_TO_DEADLINE=0; without it TenderBidder users stay idle.

Locust measures closed-loop: each user waits for its answer before the next request. For
figures at a constant arrival rate, latency from the intended send time, use `exchange load`.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from locust import HttpUser, between, events, task

OPERATOR_EMAIL = os.environ.get("LOAD_OPERATOR_EMAIL", "operator@exchange.demo")
OPERATOR_PASSWORD = os.environ.get("LOAD_OPERATOR_PASSWORD", "operator-pass-2026")
PASSWORD = "locust-password-2026"  # noqa: S105 - the run's own throwaway accounts
TENDER_DEADLINE_S = float(os.environ.get("LOAD_TENDER_DEADLINE_S", "3600"))
RUN = secrets.token_hex(4)
START_PRICE, STEP = 1_000_000, 1_000
shared: dict[str, Any] = {}


def _token(host: str, email: str, password: str) -> dict[str, str]:
    response = requests.post(f"{host}/api/tokens", json={"email": email, "password": password, "name": "locust"},
                             timeout=30)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _register(host: str, role: str, name: str) -> tuple[int, str]:
    email = f"{name}-{RUN}@locust.test"
    response = requests.post(f"{host}/api/accounts", json={
        "role": role, "email": email, "password": PASSWORD, "display_name": f"Locust {name}"}, timeout=30)
    response.raise_for_status()
    return int(response.json()["id"]), email


@events.test_start.add_listener
def schedule_lot(environment: Any, **_: Any) -> None:
    host = environment.host.rstrip("/")
    operator = _token(host, OPERATOR_EMAIL, OPERATOR_PASSWORD)
    _, seller_email = _register(host, "institution", "seller")
    seller = _token(host, seller_email, PASSWORD)
    achievement = requests.post(f"{host}/api/achievements/", headers=seller, timeout=30, json={
        "title": f"Locust achievement {RUN}", "summary": "Made by the Locust file.", "field": "information_technology",
        "kind": "software", "funding_source": "public", "programme": "Load test", "maturity": "prototype"})
    achievement.raise_for_status()
    listing = requests.post(f"{host}/api/listings/", headers=seller, timeout=30, json={
        "achievement_id": achievement.json()["id"], "listing_price": START_PRICE, "deposit": 0,
        "terms": "Load-test terms.", "bidder_conditions": "Load-test conditions."})
    listing.raise_for_status()
    requests.post(f"{host}/api/listings/{listing.json()['id']}/review", headers=operator, timeout=30,
                  json={"decision": "approve"}).raise_for_status()
    opens = datetime.now(UTC) + timedelta(seconds=5)
    auction = requests.post(f"{host}/api/auctions/", headers=operator, timeout=30, json={
        "listing_id": listing.json()["id"], "start_price": START_PRICE, "increment": STEP,
        "opens_at": opens.isoformat(), "scheduled_end": (opens + timedelta(hours=1)).isoformat()})
    auction.raise_for_status()
    shared.update(operator=operator, lot=auction.json()["auction_id"], tender=_tender(host, operator, seller))


def _tender(host: str, operator: dict[str, str], owner: dict[str, str]) -> int | None:
    """A published tender for TenderBidder users; None when the exchange refuses so short a deadline."""
    now = datetime.now(UTC)
    tender = requests.post(f"{host}/api/tenders/", headers=owner, timeout=30, json={
        "title": f"Locust tender {RUN}", "summary": "Made by the Locust file.", "estimate": 100 * START_PRICE,
        "security": 2 * START_PRICE, "documents_issued_at": now.isoformat(),
        "deadline": (now + timedelta(seconds=TENDER_DEADLINE_S)).isoformat()})
    if tender.status_code == 422:
        return None
    tender.raise_for_status()
    requests.post(f"{host}/api/tenders/{tender.json()['id']}/review", headers=operator, timeout=30,
                  json={"decision": "approve"}).raise_for_status()
    return int(tender.json()["id"])


class Bidder(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        investor_id, email = _register(self.host, "investor", f"bidder{secrets.token_hex(4)}")
        requests.post(f"{self.host}/api/auctions/{shared['lot']}/bidders", headers=shared["operator"], timeout=30,
                      json={"investor_id": investor_id}).raise_for_status()
        self.headers = _token(self.host, email, PASSWORD)
        self.minimum = START_PRICE

    @task
    def bid(self) -> None:
        with self.client.post(f"/api/lots/{shared['lot']}/bids", json={"amount": self.minimum},
                              headers=self.headers | {"Idempotency-Key": secrets.token_hex(12)},
                              name="/api/lots/[id]/bids", catch_response=True) as response:
            if response.status_code in (201, 422):  # 422: outbid meanwhile, or not open yet
                ack = response.json() if response.status_code == 201 else response.json().get("ack") or {}
                self.minimum = max(self.minimum, ack.get("minimum_bid") or self.minimum)
                response.success()


class RoomReader(HttpUser):
    wait_time = between(1, 3)
    seq = 0

    @task(3)
    def room(self) -> None:
        response = self.client.get(f"/api/auctions/{shared['lot']}", name="/api/auctions/[id]")
        if response.ok:
            self.seq = response.json()["seq"]

    @task
    def events_after(self) -> None:
        self.client.get(f"/api/auctions/{shared['lot']}/events?after={max(0, self.seq - 5)}",
                        name="/api/auctions/[id]/events")


class LoginUser(HttpUser):
    wait_time = between(1, 5)

    def on_start(self) -> None:
        _, self.email = _register(self.host, "investor", f"login{secrets.token_hex(4)}")

    @task
    def login(self) -> None:
        wrong = secrets.randbelow(20) == 0
        with self.client.post("/api/session", json={"email": self.email, "password": "wrong" if wrong else PASSWORD},
                              name="/api/session (wrong password)" if wrong else "/api/session",
                              catch_response=True) as response:
            if response.status_code == 429:
                response.failure("429 rate limited")
            elif wrong and response.status_code == 401:
                response.success()
        self.client.cookies.clear()


class TenderBidder(HttpUser):
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.tender = shared.get("tender")
        if self.tender is None:
            return
        _, email = _register(self.host, "investor", f"tender{secrets.token_hex(4)}")
        self.headers = _token(self.host, email, PASSWORD)
        security = requests.post(f"{self.host}/api/tenders/{self.tender}/security", headers=self.headers, timeout=30)
        security.raise_for_status()
        requests.post(f"{self.host}/api/tender-securities/bank-transfers", headers=shared["operator"], timeout=30,
                      json={"reference_code": security.json()["reference_code"], "amount": security.json()["amount"],
                            "statement_ref": f"LOCUST-{security.json()['reference_code']}"}).raise_for_status()
        self.key = secrets.token_hex(12)

    @task
    def propose(self) -> None:
        if self.tender is None:
            return
        with self.client.post(f"/api/tenders/{self.tender}/proposals", headers=self.headers | {"Idempotency-Key": self.key},
                              json={"price": 90 * START_PRICE, "technical": "Locust proposal."},
                              name="/api/tenders/[id]/proposals", catch_response=True) as response:
            if response.status_code == 409:  # the deadline passed
                response.success()
