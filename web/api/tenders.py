"""Tenders (招标) over HTTP: announce, review, questions, securities, sealed proposals with an
Idempotency-Key, the committee's scores, the award and the contract."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from exchange.errors import ValidationFailed
from exchange.settlement.types import BankTransfer
from exchange.tenders.types import (
    AnswerInput,
    CommitteeInput,
    ContractInput,
    MemberScores,
    ProposalInput,
    QuestionInput,
    TenderInput,
    TenderReview,
)
from web.context import services, viewer


class TendersApi(Controller):
    path = "/api/tenders"
    tags = ["tenders"]

    @get("/", summary="Published tenders; `mine=true`: your own in any status; operators: any `status`", cache=False)
    async def index(self, request: Request[Any, Any, Any], status: FromQuery[str | None] = None,
                    mine: FromQuery[bool] = False) -> list[dict[str, Any]]:
        return await services(request).tenders.tenders(viewer(request), status=status, mine=mine)

    @post("/", status_code=HTTP_201_CREATED, summary="Announce a tender (institutions and investors): awaits approval")
    async def announce(self, request: Request[Any, Any, Any], data: JSONBody[TenderInput]) -> dict[str, Any]:
        return await services(request).tenders.announce(viewer(request), data)

    @get("/{tender_id:int}", summary="A tender: announcement, answers, opening, candidates, award", cache=False)
    async def one(self, request: Request[Any, Any, Any], tender_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).tenders.tender(viewer(request), tender_id)

    @post("/{tender_id:int}/review", status_code=HTTP_200_OK, summary="Approve (publish) or return a tender (operators)")
    async def review(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                     data: JSONBody[TenderReview]) -> dict[str, Any]:
        return await services(request).tenders.review(viewer(request), tender_id, data)

    @post("/{tender_id:int}/retender", status_code=HTTP_201_CREATED, summary="Re-announce a tender that had too few proposals (its owner)")
    async def retender(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                       data: JSONBody[TenderInput]) -> dict[str, Any]:
        return await services(request).tenders.retender(viewer(request), tender_id, data)

    @post("/{tender_id:int}/questions", status_code=HTTP_201_CREATED, summary="Ask a question or object (registered users)")
    async def ask(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                  data: JSONBody[QuestionInput]) -> dict[str, Any]:
        return await services(request).tenders.ask(viewer(request), tender_id, data)

    @post("/{tender_id:int}/questions/{question_id:int}/answer", status_code=HTTP_200_OK,
          summary="Answer a question or objection, publicly (the owner)")
    async def answer(self, request: Request[Any, Any, Any], tender_id: FromPath[int], question_id: FromPath[int],
                     data: JSONBody[AnswerInput]) -> dict[str, Any]:
        return await services(request).tenders.answer(viewer(request), tender_id, question_id, data)

    @post("/{tender_id:int}/security", status_code=HTTP_201_CREATED, summary="Your bid security: its bank-transfer reference code")
    async def bid_security(self, request: Request[Any, Any, Any], tender_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).tenders.request_security(viewer(request), tender_id)

    @post("/{tender_id:int}/proposals", summary="Submit a sealed proposal with an Idempotency-Key: the answer is your receipt")
    async def propose(
        self, request: Request[Any, Any, Any], tender_id: FromPath[int], data: JSONBody[ProposalInput],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[dict[str, Any]]:
        if idempotency_key is None:
            raise ValidationFailed("an Idempotency-Key header is required", field_errors={
                "Idempotency-Key": "send a unique key per proposal, and the same key when you retry it"})
        receipt = await services(request).tenders.submit_proposal(viewer(request), tender_id, data, idempotency_key)
        return Response(receipt, status_code=HTTP_200_OK if receipt["replayed"] else HTTP_201_CREATED)

    @post("/{tender_id:int}/committee", status_code=HTTP_200_OK, summary="Name the evaluation committee (operators)")
    async def committee(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                        data: JSONBody[CommitteeInput]) -> dict[str, Any]:
        return await services(request).tenders.set_committee(viewer(request), tender_id, data)

    @post("/{tender_id:int}/scores", status_code=HTTP_200_OK, summary="One member's technical scores, 0..100 per bidder (operators)")
    async def scores(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                     data: JSONBody[MemberScores]) -> dict[str, Any]:
        return await services(request).tenders.score(viewer(request), tender_id, data)

    @post("/{tender_id:int}/award", status_code=HTTP_200_OK, summary="Award rank 1 once the candidates' window closed with every objection answered")
    async def award(self, request: Request[Any, Any, Any], tender_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).tenders.award(viewer(request), tender_id)

    @post("/{tender_id:int}/contract", status_code=HTTP_200_OK, summary="Record the contract: securities are refunded (the owner)")
    async def contract(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                       data: JSONBody[ContractInput]) -> dict[str, Any]:
        return await services(request).tenders.record_contract(viewer(request), tender_id, data)


class TenderSecuritiesApi(Controller):
    path = "/api/tender-securities"
    tags = ["tenders"]

    @get("/", summary="Your bid securities; every security, by status (operators)", cache=False)
    async def index(self, request: Request[Any, Any, Any], status: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return await services(request).tenders.securities(viewer(request), status=status)

    @post("/bank-transfers", status_code=HTTP_201_CREATED, summary="Match a bank statement line to a bid security S… (operators)")
    async def confirm(self, request: Request[Any, Any, Any], data: JSONBody[BankTransfer]) -> dict[str, Any]:
        return await services(request).tenders.confirm_security(viewer(request), data)
