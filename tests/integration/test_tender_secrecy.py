"""Nobody, operators included, reads a sealed proposal before the opening: not through the API,
the pages, error messages or the logs; and the database holds only ciphertext."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest

from exchange.clock import FixedClock
from exchange.services import Services
from exchange.tenders.sealing import CannotOpen, Sealer, StillSealed
from tests.integration.helpers import register, token_for
from tests.integration.tender_flow import tender_input
from web.i18n import format_money

SECRET_PRICE = 87_654_321
SECRET_TEXT = "绝密工艺 ZEBRA-QUOKKA-7731"
# Every way a page, an answer or a log line could spell the price: fen as stored, yuan as the
# pages and the OCDS releases show it.
SECRET_SPELLINGS = [str(SECRET_PRICE), f"{SECRET_PRICE:,}", format_money(SECRET_PRICE, "CNY").lstrip("¥"),
                    f"{SECRET_PRICE // 100:,}", f"{SECRET_PRICE / 100}"]


async def _party(client: httpx.AsyncClient, role: str, email: str) -> dict[str, Any]:
    account = await register(client, role, email)
    return {"id": account["id"], "headers": await token_for(client, email)}


async def test_nobody_reads_a_proposal_before_opening(
    client: httpx.AsyncClient, parties: dict[str, dict[str, Any]], services: Services, clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    owner, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    body = tender_input(clock.now())
    announced = await client.post("/api/tenders/", headers=owner, json={
        "title": body.title, "summary": body.summary, "estimate": body.estimate, "security": body.security,
        "documents_issued_at": body.documents_issued_at.isoformat(), "deadline": body.deadline.isoformat(),
        "documents": [{"title": "招标文件"}]})
    assert announced.status_code == 201, announced.text
    tender_id = announced.json()["id"]
    assert (await client.post(f"/api/tenders/{tender_id}/review", headers=operator,
                              json={"decision": "approve"})).status_code == 200
    bidder = parties["investor"]["headers"]
    other = (await _party(client, "investor", "rival@firm.test"))["headers"]
    security = (await client.post(f"/api/tenders/{tender_id}/security", headers=bidder)).json()
    confirmed = await client.post("/api/tender-securities/bank-transfers", headers=operator, json={
        "reference_code": security["reference_code"], "amount": security["amount"], "statement_ref": "STMT-1"})
    assert confirmed.status_code == 201, confirmed.text
    proposal = {"price": SECRET_PRICE, "technical": SECRET_TEXT}
    sent = await client.post(f"/api/tenders/{tender_id}/proposals", headers=bidder | {"Idempotency-Key": "p-1"},
                             json=proposal)
    assert sent.status_code == 201, sent.text
    replay = await client.post(f"/api/tenders/{tender_id}/proposals", headers=bidder | {"Idempotency-Key": "p-1"},
                               json=proposal)
    assert replay.status_code == 200 and replay.json()["commitment"] == sent.json()["commitment"]
    seen = [sent.text, replay.text]
    for attempt in [
        (bidder | {"Idempotency-Key": "p-1"}, {"price": SECRET_PRICE + 1, "technical": SECRET_TEXT}),
        (bidder | {"Idempotency-Key": "p-2"}, proposal),
        (other | {"Idempotency-Key": "o-1"}, proposal),
        (operator | {"Idempotency-Key": "x-1"}, proposal),
        (owner | {"Idempotency-Key": "x-2"}, proposal),
        (bidder, proposal),
    ]:
        refused = await client.post(f"/api/tenders/{tender_id}/proposals", headers=attempt[0], json=attempt[1])
        assert refused.status_code in (403, 409, 422), refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        seen.append(refused.text)
    for headers in (operator, owner, other, bidder, {}):
        for path in (f"/api/tenders/{tender_id}", "/api/tenders/", "/api/tender-securities/", "/api/ledger",
                     "/api/payouts/", f"/tenders/{tender_id}", "/tenders"):
            answer = await client.get(path, headers=headers)
            seen.append(answer.text)
    clock.advance(timedelta(days=30))
    late = await client.post(f"/api/tenders/{tender_id}/proposals", headers=other | {"Idempotency-Key": "late"},
                             json=proposal)
    assert late.status_code == 409
    seen.append(late.text)
    seen += [record.getMessage() for record in caplog.records]
    for text in seen:
        for spelling in SECRET_SPELLINGS:
            assert spelling not in text
        assert "ZEBRA-QUOKKA" not in text
    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT t.*, p.* FROM tender_proposals p JOIN tenders t ON t.id = p.tender_id")
        events = await conn.fetch("SELECT body::text FROM tender_events")
    at_rest = repr([dict(r) for r in rows]) + repr([dict(e) for e in events])
    assert str(SECRET_PRICE) not in at_rest and "ZEBRA-QUOKKA" not in at_rest
    assert b"ZEBRA-QUOKKA" not in rows[0]["sealed"]


def test_the_tender_key_is_refused_before_the_deadline(clock: FixedClock) -> None:
    sealer = Sealer("a-secret-of-the-exchange")
    public, wrapped = sealer.new_tender_keys(7)
    _, sealed = sealer.seal(7, public, "42", SECRET_PRICE, SECRET_TEXT)
    deadline = clock.now() + timedelta(days=20)
    with pytest.raises(StillSealed):
        sealer.open_key(7, wrapped, deadline, deadline - timedelta(microseconds=1))
    assert Sealer.unseal(7, sealer.open_key(7, wrapped, deadline, deadline), "42", sealed).price == SECRET_PRICE
    with pytest.raises(CannotOpen, match="does not unwrap the key of tender 7"):  # another exchange's secret
        Sealer("another-secret").open_key(7, wrapped, deadline, deadline)
