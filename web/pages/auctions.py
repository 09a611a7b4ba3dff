"""Auction pages: the public list, the live room, and the operator's scheduling and qualification."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from exchange.accounts.service import require_role
from exchange.accounts.types import Role
from exchange.auctions.types import DEFAULT_QUIET_PERIOD_S, AuctionSpec, IncrementStep
from exchange.errors import ExchangeError, ValidationFailed
from web.context import services, viewer
from web.i18n import SHANGHAI, format_money, format_time, translator
from web.pages.common import parse_money, read_form, redirect_with_flash, render
from web.pages.money import local_time

_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
_BAND_SEPARATOR = re.compile(r"\s*[;；，、]\s*|,\s+|\s+")


def parse_local_time(errors: dict[str, str], field: str, raw: str, *, required: bool = True) -> datetime | None:
    """A `datetime-local` value, meant in Beijing time."""
    raw = raw.strip()
    if not raw:
        if required:
            errors[field] = "is required"
        return None
    for fmt in (_LOCAL_FORMAT, _LOCAL_FORMAT + ":%S"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=SHANGHAI)
        except ValueError:
            continue
    errors[field] = "must be a date and time such as 2026-03-02T10:00"
    return None


def local_input(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime(_LOCAL_FORMAT)


ROOM_TEXT = (
    "auction.leader", "auction.no_bids", "auction.closes_in", "auction.opens_in", "auction.free_ends_in",
    "auction.timed_left", "auction.phase.scheduled", "auction.phase.free", "auction.phase.timed",
    "auction.phase.closed", "auction.auto", "auction.you_lead", "auction.outbid", "auction.accepted",
    "auction.rejected", "auction.sending", "auction.sold", "auction.unsold", "auction.your_max",
    "auction.bad_amount", "auction.reconnecting", "auction.proxy_set",
    "auction.you_won", "auction.you_lost", "auction.review_title", "auction.review_proxy_title",
    "auction.review_above", "auction.review_at", "auction.review_warning", "auction.review_confirm",
    "auction.review_confirm_proxy", "auction.outbid_proxy", "auction.timed_close_at", "auction.closed_at",
    "auction.accepted_held", "auction.next_step_link",
)


def _local(iso_time: str | None) -> str:
    return format_time(datetime.fromisoformat(iso_time)) if iso_time else ""


def with_local_times(room: dict[str, Any]) -> dict[str, Any]:
    """The room with its times also in Beijing time, for the first render before the script runs."""
    ladder = [{**b, "at_local": datetime.fromisoformat(b["at"]).astimezone(SHANGHAI).strftime("%H:%M:%S")}
              for b in room["ladder"]]
    return {**room, "ladder": ladder, "opens_at_local": _local(room["opens_at"]),
            "scheduled_end_local": _local(room["scheduled_end"])}


def feed_url(request: Request[Any, Any, Any]) -> str:
    """Where this page's script opens the lot websocket (web/feed.py runs on its own port)."""
    configured: str | None = request.app.state.feed_url
    if configured:
        return configured.rstrip("/")
    scheme = "wss" if request.url.scheme == "https" else "ws"
    host = request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{request.app.state.feed_port}"


def spec_from_form(form: dict[str, str]) -> AuctionSpec:
    errors: dict[str, str] = {}
    start_price = parse_money(errors, "start_price", form.get("start_price", ""))
    table = parse_increment_table(errors, form.get("increment_table", ""))
    # a table, when given, replaces the fixed increment (the form says so)
    increment = None if table else parse_money(errors, "increment", form.get("increment", ""))
    reserve = parse_money(errors, "reserve", form.get("reserve", ""), required=False)
    opens_at = parse_local_time(errors, "opens_at", form.get("opens_at", ""))
    scheduled_end = parse_local_time(errors, "scheduled_end", form.get("scheduled_end", ""))
    hard_cap = parse_local_time(errors, "hard_cap", form.get("hard_cap", ""), required=False)
    quiet_raw = form.get("quiet_period_s", "").strip() or str(DEFAULT_QUIET_PERIOD_S)
    quiet = int(quiet_raw) if quiet_raw.isdigit() and len(quiet_raw) < 7 else None
    if quiet is None:
        errors["quiet_period_s"] = "must be a whole number of seconds"
    if errors:
        raise ValidationFailed("some fields are not valid", field_errors=errors)
    assert start_price is not None and opens_at and scheduled_end and quiet
    return AuctionSpec(start_price=start_price, increment=increment, increment_table=table or None, reserve=reserve,
                       opens_at=opens_at, scheduled_end=scheduled_end, hard_cap=hard_cap, quiet_period_s=quiet)


def parse_increment_table(errors: dict[str, str], raw: str) -> list[IncrementStep]:
    """Lines of "from price, increment" in yuan, e.g. "0, 1000" then "1000000, 5000"."""
    bands: list[IncrementStep] = []
    for number, line in enumerate(raw.strip().splitlines(), start=1):
        if not line.strip():
            continue
        # "0, 1000" or "0 1000" or "0；1000": a comma followed by a space separates, "1,000,000" does not
        parts = [p for p in _BAND_SEPARATOR.split(line.strip()) if p]
        if len(parts) != 2:
            errors["increment_table"] = f"line {number}: write the price the band starts at and its increment"
            return []
        line_errors: dict[str, str] = {}
        start = parse_money(line_errors, "from", parts[0])
        step = parse_money(line_errors, "step", parts[1])
        if line_errors or start is None or step is None:
            errors["increment_table"] = f"line {number}: " + "; ".join(line_errors.values())
            return []
        bands.append(IncrementStep(from_price=start, step=step))
    return bands


class AuctionPages(Controller):
    include_in_schema = False

    @get("/auctions", cache=False)
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        auctions = [{**a, "opens_at_local": _local(a["opens_at"]), "scheduled_end_local": _local(a["scheduled_end"])}
                    for a in await services(request).auctions.list_auctions()]
        return await render(request, "auctions.html", auctions=auctions)

    @get("/auctions/{auction_id:int}", cache=False)
    async def room(self, request: Request[Any, Any, Any], auction_id: FromPath[int]) -> Template:
        room = with_local_times(await services(request).auctions.room(auction_id, viewer(request)))
        t = translator(request)
        trade = None
        if room["phase"] == "closed":
            trade = await services(request).trades.trade_of_auction(viewer(request), auction_id)
        return await render(request, "auction_room.html", room=room, feed_url=feed_url(request),
                            room_text={key: t(key) for key in ROOM_TEXT}, trade=trade, at=local_time)

    @get("/auctions/{auction_id:int}/trade", cache=False)
    async def my_trade(self, request: Request[Any, Any, Any], auction_id: FromPath[int]) -> Redirect:
        """From a closed room to the viewer's trade (the room links here when it closes live)."""
        who = viewer(request)
        if who is None:
            return Redirect(path=f"/login?next=/auctions/{auction_id}/trade", status_code=303)
        trade = await services(request).trades.trade_of_auction(who, auction_id)
        if trade is None:
            return Redirect(path="/account/money#purchases", status_code=303)
        return Redirect(path=f"/trades/{trade['id']}", status_code=303)

    # operators ------------------------------------------------------------------------

    @get("/operator/auctions/new", cache=False)
    async def new(self, request: Request[Any, Any, Any], listing: FromQuery[int]) -> Template:
        require_role(viewer(request), Role.OPERATOR)
        svc = services(request)
        found = await svc.listings.get_for(viewer(request), listing)
        now = svc.clock.now().replace(second=0, microsecond=0)
        form = {
            "start_price": f"{found.listing_price / 100:.2f}",
            "increment": f"{max(found.listing_price // 100, 100) / 100:.2f}",
            "opens_at": local_input(now + timedelta(minutes=10)),
            "scheduled_end": local_input(now + timedelta(minutes=70)),
            "quiet_period_s": str(DEFAULT_QUIET_PERIOD_S),
        }
        return await render(request, "auction_form.html", listing=found, form=form, errors={})

    @post("/operator/auctions/new")
    async def create(self, request: Request[Any, Any, Any], listing: FromQuery[int]) -> Template | Redirect:
        svc = services(request)
        form = await read_form(request)
        try:
            spec = spec_from_form(form)
            auction = await svc.auctions.schedule(viewer(request), listing, spec)
        except ValidationFailed as exc:
            found = await svc.listings.get_for(viewer(request), listing)
            return await render(request, "auction_form.html", status=422, listing=found, form=form,
                                errors=exc.field_errors or {"": exc.detail})
        t = translator(request)
        return await redirect_with_flash(request, f"/operator/auctions/{auction['auction_id']}", t("auction.scheduled"))

    @get("/operator/auctions/{auction_id:int}", cache=False)
    async def manage(self, request: Request[Any, Any, Any], auction_id: FromPath[int]) -> Template:
        return await self._manage(request, auction_id, errors={}, form={})

    @post("/operator/auctions/{auction_id:int}/bidders")
    async def approve(self, request: Request[Any, Any, Any], auction_id: FromPath[int]) -> Template | Redirect:
        svc = services(request)
        form = await read_form(request)
        operator = require_role(viewer(request), Role.OPERATOR)
        try:
            investor = await svc.accounts.by_email(form.get("email", ""))
            qualified = await svc.settlement.qualify(operator, auction_id, investor.id)
        except ExchangeError as exc:
            if exc.status >= 500 or exc.status in (401, 403):
                raise
            return await self._manage(request, auction_id, errors=exc.field_errors or {"email": exc.detail},
                                      form=form, status=exc.status)
        t = translator(request)
        deposit = qualified["deposit"]
        if qualified["code"] is not None or deposit is None:
            message = t("auction.qualified_admitted", email=investor.email, code=qualified["code"])
        else:
            message = t("auction.qualified_deposit_due", email=investor.email, reference=deposit["reference_code"],
                        amount=format_money(deposit["amount"], deposit["currency"]), due=_local(deposit["due_at"]))
        return await redirect_with_flash(request, f"/operator/auctions/{auction_id}", message)

    async def _manage(
        self, request: Request[Any, Any, Any], auction_id: int, *, errors: dict[str, str], form: dict[str, str],
        status: int = 200,
    ) -> Template:
        operator = require_role(viewer(request), Role.OPERATOR)
        svc = services(request)
        room = with_local_times(await svc.auctions.room(auction_id, operator))
        admitted = {b["account_id"]: b for b in await svc.auctions.bidders(operator, auction_id)}
        deposits = {d["investor_id"]: d for d in await svc.settlement.deposits(operator, auction_id=auction_id)}
        bidders = [{
            "code": admitted[i]["code"] if i in admitted else None,
            "name": admitted[i]["display_name"] if i in admitted else deposits[i]["investor_name"],
            "email": admitted[i]["email"] if i in admitted else "",
            "approved_local": _local(admitted[i]["approved_at"]) if i in admitted else "",
            "deposit": deposits.get(i),
        } for i in [*admitted, *(i for i in deposits if i not in admitted)]]
        return await render(request, "auction_manage.html", status=status, room=room, bidders=bidders,
                            errors=errors, form=form, at=_local)
