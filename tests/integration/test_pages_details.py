"""Details every page shares: a skip link to the content, a favicon, form fields whose edges can
be seen, one account per visitor, labels that say different things differently."""

from __future__ import annotations

import re
from typing import Any

import httpx

from exchange.config import PROJECT_ROOT
from web.i18n import translate


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


async def test_every_page_offers_a_skip_link_to_its_content_and_a_favicon(client: httpx.AsyncClient) -> None:
    for path in ("/", "/auctions", "/login", "/disclosures?lang=en"):
        page = await client.get(path)
        assert page.status_code == 200, path
        skip = re.search(r'<a class="skip-link" href="#main">([^<]+)</a>', page.text)
        assert skip and skip.group(1) in ("跳到正文", "Skip to content"), path
        assert '<main class="wrap" id="main"' in page.text, path
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text, path
    icon = await client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_form_fields_have_edges_with_at_least_three_to_one_contrast() -> None:
    css = (PROJECT_ROOT / "web" / "static" / "app.css").read_text()
    edge = re.search(r"--field-line:\s*(#[0-9a-fA-F]{6})", css)
    assert edge, "the field edge colour is a variable"
    assert re.search(r"input, select, textarea \{[^}]*border: 1px solid var\(--field-line\)", css)
    ratio = 1.05 / (_luminance(edge.group(1)) + 0.05)  # against the white field
    assert ratio >= 3, f"{edge.group(1)}: {ratio:.2f}:1"


async def test_a_logged_in_visitor_asking_to_register_is_taken_to_their_account(
    client: httpx.AsyncClient, parties: dict[str, Any],
) -> None:
    assert (await client.get("/register")).status_code == 200
    answer = await client.get("/register", headers=parties["investor"]["headers"])
    assert answer.status_code == 303 and answer.headers["location"] == "/account"


def test_the_certificate_names_the_transfer_mode_and_the_method_differently() -> None:
    for lang in ("zh", "en"):
        assert translate(lang, "listing.transfer_mode", None) != translate(lang, "certificate.method", None)
