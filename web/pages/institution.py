"""Institutions: record achievements and submit, correct or withdraw listings."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from exchange.achievements.types import (
    DOCUMENT_KINDS,
    FIELDS,
    AchievementInput,
    Document,
    FundingSource,
    Kind,
    Maturity,
)
from exchange.errors import Conflict, ValidationFailed
from exchange.listings.types import (
    DEFAULT_PRICE_WEIGHT_BP,
    CompetitiveMethod,
    Listing,
    ListingInput,
    TransferMode,
)
from exchange.validation import CURRENCIES
from web.context import services, viewer
from web.i18n import translator
from web.pages.common import (
    lines,
    parse_int,
    parse_money,
    raise_form_errors,
    read_form,
    redirect_with_flash,
    render,
)


def _documents(errors: dict[str, str], raw: str) -> list[Document]:
    docs = []
    for line in lines(raw):
        parts = [p.strip() for p in line.split("|")]
        kind = parts[1] if len(parts) > 1 and parts[1] else "other"
        pages = parse_int(errors, "documents", parts[2]) if len(parts) > 2 else None
        docs.append(Document(title=parts[0], kind=kind, pages=pages))
    return docs


def achievement_from_form(form: dict[str, str]) -> AchievementInput:
    errors: dict[str, str] = {}
    appraised = parse_money(errors, "appraised_value", form.get("appraised_value", ""), required=False)
    documents = _documents(errors, form.get("documents", ""))
    raise_form_errors(errors)
    return AchievementInput(
        title=form.get("title", ""), title_en=form.get("title_en", ""), summary=form.get("summary", ""),
        summary_en=form.get("summary_en", ""), field=form.get("field", ""), kind=form.get("kind", ""),
        funding_source=form.get("funding_source", ""), maturity=form.get("maturity", ""),
        currency=form.get("currency", "CNY"), programme=form.get("programme", ""),
        ip_identifiers=lines(form.get("ip_identifiers", "")), inventors=lines(form.get("inventors", "")),
        appraised_value=appraised, documents=documents,
    )


def listing_from_form(form: dict[str, str]) -> ListingInput:
    errors: dict[str, str] = {}
    achievement_id = parse_int(errors, "achievement_id", form.get("achievement_id", ""))
    price = parse_money(errors, "listing_price", form.get("listing_price", ""))
    deposit = parse_money(errors, "deposit", form.get("deposit", ""), required=False)
    days = parse_int(errors, "announcement_working_days", form.get("announcement_working_days", ""), default=20)
    weight = parse_int(errors, "price_weight", form.get("price_weight", ""), default=DEFAULT_PRICE_WEIGHT_BP // 100)
    if achievement_id is None and "achievement_id" not in errors:
        errors["achievement_id"] = "choose an achievement"
    raise_form_errors(errors)
    assert achievement_id is not None and price is not None and days is not None and weight is not None
    return ListingInput(
        achievement_id=achievement_id, listing_price=price, deposit=deposit,
        terms=form.get("terms", ""), bidder_conditions=form.get("bidder_conditions", ""),
        transfer_mode=form.get("transfer_mode", ""), competitive_method=form.get("competitive_method", ""),
        announcement_working_days=days, price_weight_bp=weight * 100,
    )


def _amount_text(minor: int | None) -> str:
    if minor is None:
        return ""
    return f"{minor // 100}.{minor % 100:02d}" if minor % 100 else str(minor // 100)


def _achievement_choices() -> dict[str, Any]:
    return {
        "fields": FIELDS, "kinds": [k.value for k in Kind], "fundings": [f.value for f in FundingSource],
        "maturities": [m.value for m in Maturity], "currencies": CURRENCIES, "doc_kinds": DOCUMENT_KINDS,
    }


def _listing_choices() -> dict[str, Any]:
    return {"modes": [m.value for m in TransferMode], "methods": [m.value for m in CompetitiveMethod]}


def listing_form_values(listing: Listing) -> dict[str, str]:
    return {
        "achievement_id": str(listing.achievement_id),
        "listing_price": _amount_text(listing.listing_price),
        "deposit": _amount_text(listing.deposit),
        "terms": listing.terms,
        "bidder_conditions": listing.bidder_conditions,
        "transfer_mode": listing.transfer_mode.value,
        "competitive_method": listing.competitive_method.value,
        "announcement_working_days": str(listing.announcement_working_days),
        "price_weight": str(listing.price_weight_bp // 100),
    }


class InstitutionPages(Controller):
    include_in_schema = False

    @get("/achievements/new")
    async def new_achievement(self, request: Request[Any, Any, Any]) -> Template:
        await services(request).achievements.list_own(viewer(request))  # role check before showing a form
        return await render(request, "achievement_form.html", form={"currency": "CNY"}, errors={},
                            action="/achievements/new", **_achievement_choices())

    @post("/achievements/new")
    async def create_achievement(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        try:
            achievement = await services(request).achievements.record(viewer(request), achievement_from_form(form))
        except ValidationFailed as exc:
            return await render(request, "achievement_form.html", status=422, form=form, errors=exc.field_errors,
                                action="/achievements/new", **_achievement_choices())
        return Redirect(path=f"/achievements/{achievement.id}", status_code=303)

    @get("/achievements/{achievement_id:int}")
    async def achievement(self, request: Request[Any, Any, Any], achievement_id: FromPath[int]) -> Template:
        found = await services(request).achievements.get_own(viewer(request), achievement_id)
        listings = [x for x in await services(request).listings.of_seller(viewer(request))
                    if x.achievement_id == achievement_id]
        return await render(request, "achievement.html", achievement=found, listings=listings)

    @get("/achievements/{achievement_id:int}/edit")
    async def edit_achievement_form(self, request: Request[Any, Any, Any], achievement_id: FromPath[int]) -> Template:
        found = await services(request).achievements.get_own(viewer(request), achievement_id)
        form = {k: v for k, v in msgspec.structs.asdict(found).items() if isinstance(v, str)}
        form["ip_identifiers"] = "\n".join(found.ip_identifiers)
        form["inventors"] = "\n".join(found.inventors)
        form["appraised_value"] = _amount_text(found.appraised_value)
        form["documents"] = "\n".join(
            f"{d.title} | {d.kind} | {d.pages or ''}".rstrip(" |") for d in found.documents
        )
        return await render(request, "achievement_form.html", form=form, errors={},
                            action=f"/achievements/{achievement_id}/edit", **_achievement_choices())

    @post("/achievements/{achievement_id:int}/edit")
    async def edit_achievement(self, request: Request[Any, Any, Any], achievement_id: FromPath[int]) -> Template | Redirect:
        form = await read_form(request)
        try:
            await services(request).achievements.edit(viewer(request), achievement_id, achievement_from_form(form))
        except (ValidationFailed, Conflict) as exc:
            return await render(request, "achievement_form.html", status=exc.status, form=form,
                                errors=exc.field_errors or {"": exc.detail},
                                action=f"/achievements/{achievement_id}/edit", **_achievement_choices())
        return Redirect(path=f"/achievements/{achievement_id}", status_code=303)

    @get("/listings/new")
    async def new_listing(self, request: Request[Any, Any, Any], achievement: FromQuery[int | None] = None) -> Template:
        achievements = await services(request).achievements.list_own(viewer(request))
        form = {"achievement_id": str(achievement or ""), "announcement_working_days": "20",
                "transfer_mode": "assignment", "competitive_method": "english_auction"}
        return await render(request, "listing_form.html", form=form, errors={}, achievements=achievements,
                            action="/listings/new", **_listing_choices())

    @post("/listings/new")
    async def submit_listing(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        try:
            listing = await services(request).listings.submit(viewer(request), listing_from_form(form))
        except (ValidationFailed, Conflict) as exc:
            achievements = await services(request).achievements.list_own(viewer(request))
            return await render(request, "listing_form.html", status=exc.status, form=form,
                                errors=exc.field_errors or {"": exc.detail}, achievements=achievements,
                                action="/listings/new", **_listing_choices())
        return Redirect(path=f"/listings/{listing.id}", status_code=303)

    @get("/listings/{listing_id:int}/edit")
    async def edit_listing_form(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template:
        listing = await services(request).listings.get_for(viewer(request), listing_id)
        achievements = await services(request).achievements.list_own(viewer(request))
        return await render(request, "listing_form.html", form=listing_form_values(listing), errors={},
                            achievements=[a for a in achievements if a.id == listing.achievement_id],
                            action=f"/listings/{listing_id}/edit", listing=listing, **_listing_choices())

    @post("/listings/{listing_id:int}/edit")
    async def resubmit_listing(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template | Redirect:
        form = await read_form(request)
        try:
            await services(request).listings.resubmit(viewer(request), listing_id, listing_from_form(form))
        except (ValidationFailed, Conflict) as exc:
            listing = await services(request).listings.get_for(viewer(request), listing_id)
            achievements = await services(request).achievements.list_own(viewer(request))
            return await render(request, "listing_form.html", status=exc.status, form=form,
                                errors=exc.field_errors or {"": exc.detail},
                                achievements=[a for a in achievements if a.id == listing.achievement_id],
                                action=f"/listings/{listing_id}/edit", listing=listing, **_listing_choices())
        return Redirect(path=f"/listings/{listing_id}", status_code=303)

    @post("/listings/{listing_id:int}/withdraw")
    async def withdraw_listing(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Redirect:
        await read_form(request)
        await services(request).listings.withdraw(viewer(request), listing_id)
        return await redirect_with_flash(request, "/account", translator(request)("listing.status.withdrawn"))
