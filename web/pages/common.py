from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import MediaType, Request
from litestar.response import Redirect, Template

from exchange.errors import ValidationFailed
from web.auth import check_form_csrf
from web.context import ensure_session, language, services, session, viewer
from web.i18n import format_date, format_money, format_time, translator

MAX_FORM_FIELDS = 100
_DIGITS = re.compile(r"[0-9]+")
# Chinese input methods type full-width digits and separators; they mean the ASCII ones.
FULL_WIDTH = str.maketrans("０１２３４５６７８９，．　", "0123456789,. ")


def page_context(request: Request[Any, Any, Any]) -> dict[str, Any]:
    current = session(request)
    return {
        "request": request,
        "t": translator(request),
        "lang": language(request),
        "viewer": viewer(request),
        "csrf": current.csrf if current else "",
        "money": format_money,
        "when": format_time,
        "day": format_date,
        "now": services(request).clock.now(),
        "path": request.url.path,
        "switch_language": _switch_language(request),
    }


def _switch_language(request: Request[Any, Any, Any]) -> str:
    """This page in the other language: its search and filters kept, only `lang` changed."""
    other = "zh" if language(request) == "en" else "en"
    kept = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "lang"]
    return "?" + urlencode([*kept, ("lang", other)])


async def render(request: Request[Any, Any, Any], template: str, status: int = 200, **context: Any) -> Template:
    await ensure_session(request)  # every page may hold a form, and a form needs a CSRF token
    current = session(request)
    flash = ""
    if current is not None and current.flash:
        flash, current.flash = current.flash, ""
        await services(request).sessions.save(current)
    return Template(
        template, context=page_context(request) | {"flash": flash} | context, status_code=status,
        media_type=MediaType.HTML,
    )


async def read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form as plain strings, after its CSRF token is checked."""
    form = await request.form()
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if len(values) >= MAX_FORM_FIELDS:
            break
        if isinstance(value, str):
            values[key] = value
    await check_form_csrf(request, values)
    return values


async def redirect_with_flash(request: Request[Any, Any, Any], to: str, message: str) -> Redirect:
    current = await ensure_session(request)
    current.flash = message
    await services(request).sessions.save(current)
    return Redirect(path=to, status_code=303)


def parse_money(errors: dict[str, str], field: str, raw: str, *, required: bool = True) -> int | None:
    """A typed amount in yuan (or dollars…) into minor units, refusing anything ambiguous."""
    cleaned = raw.translate(FULL_WIDTH).strip().replace(",", "").replace(" ", "")
    if not cleaned:
        if required:
            errors[field] = "is required"
        return None
    whole, _, frac = cleaned.partition(".")
    if not _DIGITS.fullmatch(whole) or (frac and (not _DIGITS.fullmatch(frac) or len(frac) > 2)) or len(whole) > 14:
        errors[field] = "must be an amount such as 1200000 or 1200000.50"
        return None
    return int(whole) * 100 + int(frac.ljust(2, "0") or "0")


def parse_int(errors: dict[str, str], field: str, raw: str, default: int | None = None) -> int | None:
    cleaned = raw.strip()
    if not cleaned:
        return default
    if not _DIGITS.fullmatch(cleaned) or len(cleaned) > 9:
        errors[field] = "must be a whole number"
        return None
    return int(cleaned)


def lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace("\r", "").split("\n") if line.strip()]


def raise_form_errors(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationFailed("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)
