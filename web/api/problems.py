"""Problem tenders (难题招标 / 揭榜挂帅) over HTTP: the budget and milestones, the escrow matched by
operators, the solver's deliverables and objections, the owner's decisions, arbitration, closing."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from exchange.problems.types import (
    Arbitration,
    Decision,
    Deliverable,
    ObjectionInput,
    ProblemInput,
)
from exchange.settlement.types import BankTransfer
from web.context import services, viewer


class ProblemsApi(Controller):
    path = "/api/tenders/{tender_id:int}/problem"
    tags = ["problem tenders"]

    @get("/", summary="A problem tender: milestones and their status; the owner's escrow, the solver's payouts", cache=False)
    async def one(self, request: Request[Any, Any, Any], tender_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).problems.problem(viewer(request), tender_id)

    @post("/", status_code=HTTP_201_CREATED, summary="State the budget and milestones before approval (the owner)")
    async def define(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                     data: JSONBody[ProblemInput]) -> dict[str, Any]:
        return await services(request).problems.define(viewer(request), tender_id, data)

    @post("/cancel", status_code=HTTP_200_OK, summary="Close the problem: the unspent budget is refunded (the owner)")
    async def cancel(self, request: Request[Any, Any, Any], tender_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).problems.cancel(viewer(request), tender_id)

    @post("/milestones/{seq:int}/deliverable", status_code=HTTP_200_OK, summary="Submit a milestone's deliverable (the solver)")
    async def submit(self, request: Request[Any, Any, Any], tender_id: FromPath[int], seq: FromPath[int],
                     data: JSONBody[Deliverable]) -> dict[str, Any]:
        return await services(request).problems.submit(viewer(request), tender_id, seq, data)

    @post("/milestones/{seq:int}/decision", status_code=HTTP_200_OK,
          summary="Accept (the share is paid to the solver) or reject with reasons (the owner)")
    async def decide(self, request: Request[Any, Any, Any], tender_id: FromPath[int], seq: FromPath[int],
                     data: JSONBody[Decision]) -> dict[str, Any]:
        return await services(request).problems.decide(viewer(request), tender_id, seq, data)

    @post("/milestones/{seq:int}/objection", status_code=HTTP_200_OK,
          summary="Object to a rejection or to the owner's silence past the acceptance window (the solver)")
    async def object(self, request: Request[Any, Any, Any], tender_id: FromPath[int], seq: FromPath[int],
                     data: JSONBody[ObjectionInput]) -> dict[str, Any]:
        return await services(request).problems.object(viewer(request), tender_id, seq, data)

    @post("/milestones/{seq:int}/arbitration", status_code=HTTP_200_OK,
          summary="Rule on an objection: release the share or uphold the rejection (operators)")
    async def arbitrate(self, request: Request[Any, Any, Any], tender_id: FromPath[int], seq: FromPath[int],
                        data: JSONBody[Arbitration]) -> dict[str, Any]:
        return await services(request).problems.arbitrate(viewer(request), tender_id, seq, data)


class ProblemEscrowsApi(Controller):
    path = "/api/problem-escrows"
    tags = ["problem tenders"]

    @get("/", summary="Your problems' escrows; every escrow, by status (operators)", cache=False)
    async def index(self, request: Request[Any, Any, Any], status: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return await services(request).problems.escrows(viewer(request), status=status)

    @post("/bank-transfers", status_code=HTTP_201_CREATED, summary="Match a bank statement line to a problem's escrow P… (operators)")
    async def fund(self, request: Request[Any, Any, Any], data: JSONBody[BankTransfer]) -> dict[str, Any]:
        return await services(request).problems.fund(viewer(request), data)
