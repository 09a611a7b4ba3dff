"""The pages of escrow and settlement, in each role: deposits and payments, sales and payouts,
the operator's settlement desk, trade and deposit details, and the public certificate."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from exchange.accounts.types import Account, Registration
from exchange.clock import FixedClock
from exchange.services import Services
from exchange.settlement.cards import CardCheckout
from exchange.settlement.types import BankTransfer, Delivery
from tests.integration.conftest_auctions import PASSWORD
from tests.integration.helpers import csrf_from
from tests.integration.settlement_flow import (
    DEPOSIT,
    Sale,
    open_and_close,
    pay_by_bank,
    qualified_auction,
)


@pytest.fixture
async def engine(services: Services) -> AsyncIterator[Services]:
    await services.auctions.start()
    yield services
    await services.auctions.stop()


async def _login(client: httpx.AsyncClient, account: Account) -> httpx.AsyncClient:
    """A browser of its own (its own cookies) logged in as `account`, reading English pages."""
    browser = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    page = await browser.get("/login?lang=en")
    response = await browser.post("/login", data={
        "email": account.email, "password": PASSWORD, "_csrf": csrf_from(page.text)})
    assert response.status_code == 303, response.text
    return browser


async def _submit(browser: httpx.AsyncClient, page_path: str, action: str, form: dict[str, str]) -> httpx.Response:
    page = await browser.get(page_path)
    assert page.status_code == 200, page.text
    return await browser.post(action, data=form | {"_csrf": csrf_from(page.text)})


PRICE = 1_000_000_00


def _yuan(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


async def _sold(engine: Services, clock: FixedClock) -> tuple[Sale, dict[str, object]]:
    """Two deposits held, investor 1 wins at 1,000,000 yuan; returns the sale and its trade."""
    sale = await qualified_auction(engine, clock, investors=2)
    for investor in sale.parties.investors:
        await pay_by_bank(engine, sale, investor.id)
    await open_and_close(engine, clock, sale, [(0, 100_000), (1, PRICE)])
    trades = await engine.trades.trades(sale.parties.operator)
    assert len(trades) == 1
    return sale, trades[0]


async def test_investor_sees_the_deposit_to_pay_and_the_operator_matches_the_transfer_on_the_desk(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale = await qualified_auction(engine, clock, investors=2)
    investor, other = sale.parties.investors
    deposit = sale.deposits[investor.id]
    reference = deposit["reference_code"]

    buyer = await _login(client, investor)
    account = await buyer.get("/account")
    assert reference in account.text and 'href="/account/money' in account.text
    money = await buyer.get("/account/money")
    assert money.status_code == 200
    assert reference in money.text and "¥12,000.00" in money.text and "Due" in money.text
    assert "0200 0000 0000 0000 000" in money.text, "the exchange's settlement account to pay into"
    assert "Pay by card" not in money.text, "card payments are not enabled here"

    operator = await _login(client, sale.parties.operator)
    desk = await operator.get("/operator/settlement")
    assert desk.status_code == 200 and reference in desk.text
    for wrong, status, says in [
        ({"amount": _yuan(DEPOSIT - 1)}, 409, "nothing was recorded"),
        ({"reference_code": "D20269999999"}, 404, "no deposit or trade has the reference code D20269999999"),
        ({"amount": "12k"}, 422, "must be an amount"),
        ({"statement_ref": ""}, 422, "statement_ref"),
    ]:
        line = {"reference_code": reference, "amount": _yuan(DEPOSIT), "statement_ref": "ICBC-0001"} | wrong
        refused = await _submit(operator, "/operator/settlement", "/operator/settlement/bank-transfers", line)
        assert refused.status_code == status, refused.text
        assert says in refused.text and 'id="bank-line-form"' in refused.text
        assert (await engine.settlement.deposit(sale.parties.operator, deposit["id"]))["status"] == "due"

    matched = await _submit(operator, "/operator/settlement", "/operator/settlement/bank-transfers", {
        "reference_code": reference.lower(), "amount": "12,000", "statement_ref": "ICBC-0001"})
    assert matched.status_code == 303 and matched.headers["location"] == "/operator/settlement"
    desk = await operator.get("/operator/settlement")
    assert f"Deposit {reference} received" in desk.text
    money = await buyer.get("/account/money")
    assert "Held" in money.text and "ICBC-0001" in money.text, "the payment made is listed"

    detail = await buyer.get(f"/deposits/{deposit['id']}")
    assert detail.status_code == 200 and "held as your deposit in the exchange&#39;s settlement account" in detail.text
    assert "We received your payment of ¥12,000.00" in detail.text and f"deposit:{deposit['id']}:hold" not in detail.text
    staff_view = await operator.get(f"/deposits/{deposit['id']}")
    assert staff_view.status_code == 200 and f"deposit:{deposit['id']}:hold" in staff_view.text
    assert (await (await _login(client, other)).get(f"/deposits/{deposit['id']}")).status_code == 404
    assert (await (await _login(client, sale.parties.seller)).get(f"/deposits/{deposit['id']}")).status_code == 404


async def test_each_money_page_is_for_its_own_role(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    anonymous = await client.get("/account/money")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert (await client.get("/operator/settlement")).status_code == 303
    seller = await _login(client, sale.parties.seller)
    investor = await _login(client, sale.parties.investors[0])
    operator = await _login(client, sale.parties.operator)
    assert (await seller.get("/account/money")).status_code == 403
    assert (await seller.get("/operator/settlement")).status_code == 403
    assert (await investor.get("/account/sales")).status_code == 403
    assert (await investor.get("/operator/settlement")).status_code == 403
    refused = await investor.post("/operator/settlement/bank-transfers", data={
        "_csrf": csrf_from((await investor.get("/account/money")).text), "reference_code": "D1", "amount": "1",
        "statement_ref": "x"})
    assert refused.status_code == 403
    assert (await operator.get("/account/money")).status_code == 403
    assert (await seller.get("/account/sales")).status_code == 200
    assert 'id="nav-money"' in (await investor.get("/account")).text
    assert 'id="nav-sales"' in (await seller.get("/account")).text
    assert 'id="nav-settlement"' in (await operator.get("/account")).text
    assert (await investor.get("/trades/999")).status_code == 404
    assert (await investor.get("/deposits/999")).status_code == 404


async def test_a_trade_runs_through_the_pages_to_a_public_certificate(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale, trade = await _sold(engine, clock)
    winner, loser = sale.parties.investors[1], sale.parties.investors[0]
    trade_id, reference = trade["id"], str(trade["reference_code"])
    buyer = await _login(client, winner)
    seller = await _login(client, sale.parties.seller)
    operator = await _login(client, sale.parties.operator)

    money = await buyer.get("/account/money")
    assert reference in money.text and "Confirm the contract" in money.text and "Applied to the price" in money.text
    confirmed = await _submit(buyer, "/account/money", f"/trades/{trade_id}/contract", {"back": "/account/money"})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/account/money"
    again = await _submit(buyer, "/account/money", f"/trades/{trade_id}/contract", {"back": "/account/money"})
    assert again.status_code == 409 and "awaiting balance" in again.text, "a repeated step is refused, readably"

    fresh = await engine.trades.trade(sale.parties.operator, trade_id)
    balance = fresh["balance_due"]
    assert balance == PRICE - DEPOSIT + 15_000_00  # 1.5% buyer's commission
    money = await buyer.get("/account/money")
    assert f"¥{balance // 100:,}.{balance % 100:02d}" in money.text and f"<code class=\"reference\">{reference}</code>" in money.text
    desk = await operator.get("/operator/settlement")
    assert f'id="desk-trade-{trade_id}"' in desk.text and "Awaiting the balance" in desk.text
    paid = await _submit(operator, "/operator/settlement", "/operator/settlement/bank-transfers", {
        "reference_code": reference, "amount": _yuan(balance), "statement_ref": "ICBC-0002"})
    assert paid.status_code == 303

    sales = await seller.get("/account/sales")
    assert reference in sales.text and "Record the delivery" in sales.text
    empty = await _submit(seller, "/account/sales", f"/trades/{trade_id}/delivery", {"note": " ", "back": "/account/sales"})
    assert empty.status_code == 422 and "<strong>note</strong>: is required" in empty.text
    delivered = await _submit(seller, "/account/sales", f"/trades/{trade_id}/delivery", {
        "note": "专利权转让登记 ZL202310000001.1。", "back": "/account/sales"})
    assert delivered.status_code == 303
    assert (await _submit(buyer, "/account/money", f"/trades/{trade_id}/delivery", {"note": "x"})).status_code == 403

    page = await buyer.get(f"/trades/{trade_id}")
    assert "ZL202310000001.1" in page.text and "Accept the delivery" in page.text
    # the note's own full stop and the sentence's are not doubled
    assert "The seller recorded the delivery: 专利权转让登记 ZL202310000001.1. Check it" in page.text
    accepted = await _submit(buyer, f"/trades/{trade_id}", f"/trades/{trade_id}/accept", {"back": f"/trades/{trade_id}"})
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/trades/{trade_id}"
    page = await buyer.get(f"/trades/{trade_id}")
    number = re.search(r'href="/certificates/(TC\d+)"', page.text)
    assert number, page.text
    # the buyer reads what happened to their money in words, never the ledger's account codes
    assert "What happened to your money" in page.text and 'data-kind="trade_balance"' in page.text
    assert 'data-kind="trade_proceeds"' not in page.text, "the seller's lines are the seller's"
    assert not re.search(r"(investor|escrow|trade|deposit):\d*:?[A-Za-z]*:?[A-Z]{3}\b", page.text)
    assert "<code>trade:" not in page.text and "investor:" not in page.text
    assert f"trade:{trade_id}:proceeds" in (await operator.get(f"/trades/{trade_id}")).text
    outsider = await _login(client, sale.parties.other_institution)
    assert (await outsider.get(f"/trades/{trade_id}")).status_code == 404
    assert (await (await _login(client, loser)).get(f"/trades/{trade_id}")).status_code == 404

    public = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    certificate = await public.get(f"/certificates/{number.group(1)}?lang=en")
    assert certificate.status_code == 200
    assert "¥1,000,000.00" in certificate.text and "Digest valid" in certificate.text
    assert "window.print()" in certificate.text and "@media print" in (await public.get("/static/app.css")).text
    lookup = await public.get("/certificates", params={"number": number.group(1).lower()})
    assert lookup.status_code == 303 and lookup.headers["location"] == f"/certificates/{number.group(1)}"
    missing = await public.get("/certificates/TC2026999999")
    assert missing.status_code == 404 and "TC2026999999" in missing.text

    loser_client = await _login(client, loser)
    refunds = await loser_client.get("/account/money")
    # released at the close, but not in the loser's bank account until the operator sends it
    assert 'data-status="refund_pending">Refund on its way<' in refunds.text and "Refund" in refunds.text
    desk = await operator.get("/operator/settlement")
    payouts = await engine.settlement.payouts(sale.parties.operator, status="to_send")
    assert {p["purpose"] for p in payouts} == {"refund", "proceeds"}
    proceeds = next(p for p in payouts if p["purpose"] == "proceeds")
    assert f'id="desk-payout-{proceeds["id"]}"' in desk.text
    blank = await _submit(operator, "/operator/settlement", f"/operator/settlement/payouts/{proceeds['id']}/sent",
                          {"bank_ref": ""})
    assert blank.status_code == 422 and "bank_ref" in blank.text
    sent = await _submit(operator, "/operator/settlement", f"/operator/settlement/payouts/{proceeds['id']}/sent",
                         {"bank_ref": "ICBC-OUT-7"})
    assert sent.status_code == 303
    sales = await seller.get("/account/sales")
    assert "ICBC-OUT-7" in sales.text and "Sent" in sales.text

    # the loser's deposit page: released, the refund on its way, then sent, in words
    refund = next(p for p in payouts if p["purpose"] == "refund")
    deposit_page = await loser_client.get(f"/deposits/{refund['deposit_id']}")
    assert 'data-status="refund_pending"' in deposit_page.text and 'data-kind="deposit_hold"' in deposit_page.text
    assert "on its way: the exchange transfers it to your bank account" in deposit_page.text
    assert "escrow:" not in deposit_page.text and "investor:" not in deposit_page.text
    refunded = await _submit(operator, "/operator/settlement", f"/operator/settlement/payouts/{refund['id']}/sent",
                             {"bank_ref": "ICBC-OUT-8"})
    assert refunded.status_code == 303
    deposit_page = await loser_client.get(f"/deposits/{refund['deposit_id']}")
    assert 'data-status="refunded">Refunded<' in deposit_page.text
    assert re.search(r"Your deposit of ¥[\d,.]+ returned · <span class=\"payout-state\" data-status=\"sent\">"
                     r"sent on \d{4}-\d\d-\d\d \d\d:\d\d \(reference ICBC-OUT-8\)", deposit_page.text), deposit_page.text
    assert "escrow:" in (await operator.get(f"/deposits/{refund['deposit_id']}")).text, "operators keep the ledger"


async def test_a_forfeited_trade_waits_on_the_desk_for_the_operators_decision(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale, trade = await _sold(engine, clock)
    clock.advance(timedelta(days=10))  # past the contract's three working days
    await engine.settlement.sweep()
    operator = await _login(client, sale.parties.operator)
    desk = await operator.get("/operator/settlement")
    assert f'id="desk-trade-{trade["id"]}"' in desk.text and "Offer to the next bidder" in desk.text
    decided = await _submit(operator, "/operator/settlement", f"/operator/settlement/trades/{trade['id']}/next-step",
                            {"next_step": "next_bidder"})
    assert decided.status_code == 303
    desk = await operator.get("/operator/settlement")
    assert "Offer to the next bidder" in desk.text  # the flash names the decision
    assert f'id="desk-trade-{trade["id"]}"' not in desk.text.split('id="queue-forfeited"')[1].split("</section>")[0]
    runner_up = await (await _login(client, sale.parties.investors[0])).get("/account/money")
    assert "Confirm the contract" in runner_up.text, "the next bidder is offered the lot at their last bid"
    twice = await _submit(operator, "/operator/settlement", f"/operator/settlement/trades/{trade['id']}/next-step",
                          {"next_step": "relist"})
    assert twice.status_code == 409 and "already decided" in twice.text


async def test_the_manage_page_qualifies_an_investor_with_the_deposit_to_pay(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    operator = await _login(client, sale.parties.operator)
    newcomer = await engine.accounts.register(Registration(
        role="investor", email="late@capital.test", password=PASSWORD, display_name="Late Capital"))
    manage = f"/operator/auctions/{sale.auction_id}"
    qualified = await _submit(operator, manage, f"{manage}/bidders", {"email": newcomer.email})
    assert qualified.status_code == 303
    page = await operator.get(manage)
    deposit = (await engine.settlement.deposits(newcomer))[0]
    assert f"late@capital.test qualified; deposit due: reference {deposit['reference_code']}, ¥12,000.00" in page.text
    assert page.text.count('data-status="due"') == 2, "both qualified investors' deposits are due"
    await pay_by_bank(engine, sale, sale.parties.investors[0].id)
    page = await operator.get(manage)
    assert "A001" in page.text and 'data-status="held"' in page.text
    seller = await _submit(operator, manage, f"{manage}/bidders", {"email": sale.parties.seller.email})
    assert seller.status_code == 422 and "not an investor" in seller.text


async def test_the_buyer_objects_on_the_trade_page_and_the_operator_rules_on_the_desk(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale, trade = await _sold(engine, clock)
    winner, operator_account = sale.parties.investors[1], sale.parties.operator
    trade_id = int(str(trade["id"]))
    await engine.trades.confirm_contract(winner, trade_id)
    fresh = await engine.trades.trade(operator_account, trade_id)
    await engine.settlement.confirm_bank_transfer(operator_account, BankTransfer(
        reference_code=fresh["reference_code"], amount=fresh["balance_due"], statement_ref="ICBC-0003"))
    await engine.trades.record_delivery(sale.parties.seller, trade_id, Delivery(note="登记号 2026-ZR-1"))

    buyer = await _login(client, winner)
    page = f"/trades/{trade_id}"
    empty = await _submit(buyer, page, f"{page}/objection", {"reason": "", "back": page})
    assert empty.status_code == 422 and "<strong>reason</strong>: is required" in empty.text
    objected = await _submit(buyer, page, f"{page}/objection", {"reason": "登记的专利号与合同不符", "back": page})
    assert objected.status_code == 303 and objected.headers["location"] == page
    assert "The buyer objected" in (await buyer.get(page)).text

    operator = await _login(client, operator_account)
    desk = await operator.get("/operator/settlement")
    assert "登记的专利号与合同不符" in desk.text and f"/operator/settlement/trades/{trade_id}/ruling" in desk.text
    ruled = await _submit(operator, "/operator/settlement", f"/operator/settlement/trades/{trade_id}/ruling",
                          {"outcome": "rescind", "reasons": "专利号不符，支持异议"})
    assert ruled.status_code == 303
    assert (await engine.trades.trade(operator_account, trade_id))["status"] == "rescinded"
    refunds = await buyer.get("/account/money")
    assert "Rescinded" in refunds.text and refunds.text.count('id="payout-') == 2, "deposit and balance refunded"


class _Checkout:
    """Just enough of a card processor for the page: a hosted checkout page's address."""

    def __init__(self) -> None:
        self.asked: list[dict[str, object]] = []

    async def checkout(self, **order: object) -> CardCheckout:
        self.asked.append(order)
        return CardCheckout(session_id="cs_test_1", url="https://checkout.example/cs_test_1")


async def test_pay_by_card_is_offered_only_when_cards_are_enabled_and_goes_to_the_checkout(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    investor = await _login(client, sale.parties.investors[0])
    assert "Pay by card" not in (await investor.get("/account/money")).text
    processor = _Checkout()
    engine.settlement.cards = processor  # type: ignore[assignment]
    money = await investor.get("/account/money")
    assert "Pay by card" in money.text
    deposit = sale.deposits[sale.parties.investors[0].id]
    paid = await investor.post(f"/deposits/{deposit['id']}/card", data={"_csrf": csrf_from(money.text)})
    assert paid.status_code == 303 and paid.headers["location"] == "https://checkout.example/cs_test_1"
    assert processor.asked[0]["reference"] == deposit["reference_code"]
    assert str(processor.asked[0]["success_url"]).endswith("/account/money?card=paid")


async def test_the_operator_records_a_sellers_card_payout_account_on_the_desk(
    client: httpx.AsyncClient, engine: Services, clock: FixedClock
) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    operator = await _login(client, sale.parties.operator)
    assert "payout-account-form" not in (await operator.get("/operator/settlement?lang=en")).text
    engine.settlement.cards = _Checkout()  # type: ignore[assignment]
    bad = await _submit(operator, "/operator/settlement", "/operator/settlement/payout-accounts",
                        {"email": sale.parties.seller.email, "stripe_account": "not-an-account"})
    assert bad.status_code == 422 and "acct_" in bad.text
    saved = await _submit(operator, "/operator/settlement", "/operator/settlement/payout-accounts",
                          {"email": sale.parties.seller.email, "stripe_account": "acct_1Seller"})
    assert saved.status_code == 303
    async with engine.pool.acquire() as conn:
        assert await conn.fetchval("SELECT stripe_account FROM payout_accounts WHERE account_id = $1",
                                   sale.parties.seller.id) == "acct_1Seller"
    investor = await _login(client, sale.parties.investors[0])
    refused = await _submit(investor, "/account/money", "/operator/settlement/payout-accounts",
                            {"email": sale.parties.seller.email, "stripe_account": "acct_2"})
    assert refused.status_code == 403
