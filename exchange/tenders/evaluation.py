"""After the opening: the evaluation committee, ranking by the sealed book, candidates and
their objection window, the award to rank 1, the contract and the refund of securities."""

from __future__ import annotations

from typing import Any

from exchange import disclosure
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.errors import Conflict, Forbidden, ValidationFailed
from exchange.infra.db import Conn
from exchange.tenders import book as sealed
from exchange.tenders import repository as repo
from exchange.tenders.bidding import release_securities
from exchange.tenders.context import TenderContext, locked_tender, party
from exchange.tenders.types import CommitteeInput, ContractInput, MemberScores
from exchange.validation import FieldErrors, text
from matching_core.codes import Rejection
from matching_core.sealed_types import Evaluate, ProposalsRanked, TechnicalScore

POINTS = 100  # members score 0..100 points; the book works in basis points


async def set_committee(ctx: TenderContext, viewer: Account | None, tender_id: int, data: CommitteeInput) -> None:
    """The operator names the committee (an odd number, at least five); names stay secret until the award."""
    require_role(viewer, Role.OPERATOR)
    errors = FieldErrors()
    names = [text(errors, "members", name, max_len=100) for name in data.members]
    minimum = ctx.rules.min_committee
    if len(names) < minimum or len(names) % 2 == 0:
        errors.add("members", f"an odd number of members, at least {minimum}")
    elif len(set(names)) != len(names):
        errors.add("members", "each member once")
    errors.raise_if_any()
    async with ctx.pool.acquire() as conn, conn.transaction():
        tender = await locked_tender(conn, tender_id)
        if tender["status"] != "opened":
            raise Conflict(f"tender {tender['reference_no']} is {tender['status']}: the committee is named after "
                           "the opening and before the ranking")
        if await repo.scores(conn, tender_id):
            raise Conflict("the committee has started scoring; it can no longer change")
        await repo.set_tender(conn, tender_id, committee=names)
        if tender["evaluation"] == "price":
            await _rank(ctx, conn, tender_id, {})


async def score(ctx: TenderContext, viewer: Account | None, tender_id: int, data: MemberScores) -> dict[str, Any]:
    """One member's technical scores, entered by the operator; the last member's scores rank the proposals."""
    require_role(viewer, Role.OPERATOR)
    async with ctx.pool.acquire() as conn, conn.transaction():
        tender = await locked_tender(conn, tender_id)
        if tender["status"] != "opened" or tender["evaluation"] != "weighted":
            raise Conflict(f"tender {tender['reference_no']} takes no technical scores now")
        committee = tender["committee"] or []
        if not committee:
            raise Conflict("name the evaluation committee first")
        if not 0 <= data.member < len(committee):
            raise ValidationFailed("no such committee member", field_errors={"member": f"0..{len(committee) - 1}"})
        revealed = {p["bidder_id"] for p in await repo.proposals(conn, tender_id) if p["revealed_at"] is not None}
        table = _scores(data.scores, revealed)
        await repo.put_scores(conn, tender_id, data.member, table, ctx.clock.now())
        sheet = await repo.scores(conn, tender_id)
        done = len(sheet) == len(committee) * len(revealed)
        if done:
            technical: dict[int, list[int]] = {}
            for row in sheet:
                technical.setdefault(row["bidder_id"], []).append(row["score"])
            averages = {bidder: sum(s) * POINTS // len(s) for bidder, s in technical.items()}
            await _rank(ctx, conn, tender_id, averages)
    return {"tender_id": tender_id, "member": data.member, "ranked": done}


def _scores(raw: dict[str, int], revealed: set[int]) -> dict[int, int]:
    errors = FieldErrors()
    table: dict[int, int] = {}
    for key, value in raw.items():
        if not key.isdigit() or int(key) not in revealed:
            errors.add("scores", f"{key} is not a revealed proposal's bidder")
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= POINTS:
            errors.add("scores", f"scores are whole points 0..{POINTS}")
        else:
            table[int(key)] = value
    if not errors.errors and set(table) != revealed:
        errors.add("scores", "score every revealed proposal, once")
    errors.raise_if_any()
    return table


async def _rank(ctx: TenderContext, conn: Conn, tender_id: int, technical: dict[int, int]) -> None:
    tender = await repo.tender(conn, tender_id)
    assert tender is not None
    now = ctx.clock.now()
    book = await sealed.load(conn, tender, ctx.rules)
    scores = tuple(TechnicalScore(str(bidder), value) for bidder, value in sorted(technical.items()))
    result = await sealed.apply(conn, tender_id, book, Evaluate(tender["price_weight"], scores), now)
    if isinstance(result, Rejection):
        raise Conflict(f"the sealed book refused the evaluation: {result.code.name.lower()}")
    ranked = next(e for e in result if isinstance(e, ProposalsRanked))
    names = {p["bidder_id"]: p["bidder_name"] for p in await repo.proposals(conn, tender_id)}
    candidates = [{"rank": c.rank, "bidder_id": int(c.bidder), "bidder_name": names[int(c.bidder)],
                   "price": c.price, "score": c.score} for c in ranked.candidates]
    if not candidates:
        await repo.set_tender(conn, tender_id, status="retender", ranked_at=now, candidates=[])
        await release_securities(conn, tender_id, now)
        return
    await repo.set_tender(conn, tender_id, status="candidates", ranked_at=now, candidates=candidates,
                          candidates_until=now + ctx.days(ctx.rules.candidates_days))
    await disclosure.publish(conn, await disclosure.tender_candidates(conn, tender_id, now))


async def award_due(ctx: TenderContext, tender_id: int, viewer: Account | None = None) -> bool:
    """Rank 1 is awarded once the candidates were published long enough and every objection is
    answered. With a `viewer` (the owner or an operator asking) a refusal says why."""
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        tender = await locked_tender(conn, tender_id)
        if viewer is not None and viewer.role != Role.OPERATOR and viewer.id != tender["owner_id"]:
            raise Forbidden("only the tender's owner or an operator may ask for the award")
        problem = None
        if tender["status"] != "candidates":
            problem = f"tender {tender['reference_no']} is {tender['status']}, not awaiting its award"
        elif now < tender["candidates_until"]:
            problem = f"the candidates are published until {tender['candidates_until'].isoformat()}"
        elif await repo.unanswered_objections(conn, tender_id):
            problem = "an objection to the candidates awaits its answer: the award is paused"
        if problem is not None:
            if viewer is not None:
                raise Conflict(problem)
            return False
        first = tender["candidates"][0]
        await repo.set_tender(conn, tender_id, status="awarded", awarded_at=now, winner_id=first["bidder_id"],
                              award_price=first["price"], contract_due=now + ctx.days(ctx.rules.contract_days))
        award = await disclosure.tender_award(conn, tender_id, now, ctx.days(ctx.rules.candidates_days))
        await disclosure.publish(conn, award)
    return True


async def record_contract(ctx: TenderContext, viewer: Account | None, tender_id: int, data: ContractInput) -> None:
    """The owner records the contract with the winner; every security is refunded at once."""
    owner = party(viewer)
    errors = FieldErrors()
    note = text(errors, "note", data.note, max_len=2000, required=False, multiline=True)
    errors.raise_if_any()
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        tender = await locked_tender(conn, tender_id)
        if tender["owner_id"] != owner.id:
            raise Forbidden("only the tender's owner records its contract")
        if tender["status"] != "awarded":
            raise Conflict(f"tender {tender['reference_no']} is {tender['status']}, not awaiting a contract")
        if now > tender["contract_due"]:
            raise Conflict(f"the contract was due by {tender['contract_due'].isoformat()}; ask the exchange")
        await repo.set_tender(conn, tender_id, status="contracted", contracted_at=now, contract_note=note)
        await release_securities(conn, tender_id, now)
