"""The public notice board (公示栏) and a page per disclosure record."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Template

from exchange.disclosure import Kind
from exchange.errors import ValidationFailed
from web.api.disclosures import disclosures
from web.pages.common import parse_int, render

BOARD_PAGE = 50


class DisclosurePages(Controller):
    include_in_schema = False

    @get("/disclosures")
    async def board(self, request: Request[Any, Any, Any]) -> Template:
        params = {k: v.strip()[:60] for k, v in request.query_params.items()}
        errors: dict[str, str] = {}
        before = parse_int(errors, "before", params.get("before", ""))
        records = []
        if not errors:
            try:
                records = await disclosures(request).board(
                    kind=params.get("kind") or None, procedure=params.get("procedure") or None,
                    before=before, limit=BOARD_PAGE)
            except ValidationFailed as exc:
                errors = exc.field_errors
        filters = {k: params[k] for k in ("kind", "procedure") if params.get(k)}
        older = None
        if len(records) == BOARD_PAGE:
            older = "/disclosures?" + urlencode(filters | {"before": records[-1].seq})
        return await render(request, "disclosures.html", status=422 if errors else 200, records=records,
                            kinds=[k.value for k in Kind], params=params, errors=errors, older=older)

    @get("/disclosures/{seq:int}")
    async def record(self, request: Request[Any, Any, Any], seq: FromPath[int]) -> Template:
        found, corrections, corrected = await disclosures(request).record(seq)
        body = json.dumps(found.body, ensure_ascii=False, indent=2, sort_keys=True)
        return await render(request, "disclosure.html", record=found, body_json=body, corrections=corrections,
                            corrected=corrected)
