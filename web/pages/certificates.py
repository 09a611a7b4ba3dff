"""Transaction certificates (交易凭证): public to anyone holding the number, checkable and printable."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.errors import NotFound
from web.context import services
from web.i18n import format_time
from web.pages.common import render

MAX_NUMBER = 40


def _local(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        return format_time(datetime.fromisoformat(value))
    except ValueError:
        return value


class CertificatePages(Controller):
    include_in_schema = False

    @get("/certificates", cache=False)
    async def lookup(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        number = request.query_params.get("number", "").strip().upper()[:MAX_NUMBER]
        if number:
            return Redirect(path=f"/certificates/{quote(number, safe='')}", status_code=303)
        return await render(request, "certificate_lookup.html", number="", error="")

    @get("/certificates/{number:str}", cache=False)
    async def certificate(self, request: Request[Any, Any, Any], number: FromPath[str]) -> Template:
        try:
            found = await services(request).trades.certificate(number)
        except NotFound as exc:
            return await render(request, "certificate_lookup.html", status=404, number=number[:MAX_NUMBER],
                                error=exc.detail)
        body = json.dumps(found["body"], ensure_ascii=False, sort_keys=True, indent=2)
        return await render(request, "certificate.html", certificate=found, body_json=body, local=_local)
