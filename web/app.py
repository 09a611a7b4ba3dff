"""The Litestar application."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from exchange.config import SettlementAccount
from exchange.disclosure.ocds import Publication
from exchange.services import Services
from web.api.accounts import AccountsApi
from web.api.agreements import AgreementsApi
from web.api.auctions import AuctionsApi, LotBidsApi
from web.api.catalogue import CatalogueApi
from web.api.disclosures import DisclosuresApi
from web.api.listing_changes import ListingChangesApi
from web.api.listing_procedure import ListingProcedureApi
from web.api.problems import ProblemEscrowsApi, ProblemsApi
from web.api.quotes import QuoteRoundIndexApi, QuoteRoundsApi
from web.api.registry import AchievementsApi, ListingsApi, ReviewQueueApi
from web.api.settlement import BankTransfersApi, DepositsApi, MoneyApi, PayoutsApi, TradesApi
from web.api.tenders import TendersApi, TenderSecuritiesApi
from web.auth import IdentityMiddleware, raise_identity_error
from web.errors import EXCEPTION_HANDLERS
from web.guard import InputGuard
from web.pages.account import AccountPages
from web.pages.agreements import AgreementPages
from web.pages.auctions import AuctionPages
from web.pages.auth import AuthPages
from web.pages.catalogue import CataloguePages
from web.pages.certificates import CertificatePages
from web.pages.disclosures import DisclosurePages
from web.pages.institution import InstitutionPages
from web.pages.listing_changes import ListingChangePages
from web.pages.listing_procedure import ListingProcedurePages
from web.pages.money import MoneyPages
from web.pages.operator import OperatorPages
from web.pages.problems import ProblemPages
from web.pages.quotes import QuotePages
from web.pages.settlement_desk import SettlementDeskPages
from web.pages.tenders import TenderPages
from web.proxies import TrustedProxies
from web.receipt import ReceiptMiddleware

HERE = Path(__file__).resolve().parent
MAX_BODY_BYTES = 1_000_000


@get("/healthz", include_in_schema=False, cache=False)
async def healthz(request: Request[Any, Any, Any]) -> dict[str, str]:
    svc: Services = request.app.state.services
    async with svc.pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    try:
        redis_ok = bool(await svc.redis.ping())
    except Exception:  # noqa: BLE001 - health reports Redis trouble rather than failing
        redis_ok = False
    return {"database": "ok", "redis": "ok" if redis_ok else "unavailable",
            "engine": "ok" if svc.auctions.engine_ready else "unavailable",
            "process": os.environ.get("EXCHANGE_PROCESS", "")}


async def _start(app: Litestar) -> None:
    """The auction engine, unless the host process runs it (`exchange run` does)."""
    if app.state.run_engine:
        await app.state.services.auctions.start()
        app.state.services.settlement.start()
        app.state.services.tenders.start()
        app.state.services.listing_changes.start()
        app.state.services.quotes.start()
        app.state.services.agreements.start()
        app.state.services.procedure.start()


async def _stop(app: Litestar) -> None:
    if app.state.run_engine:
        await app.state.services.procedure.stop()
        await app.state.services.agreements.stop()
        await app.state.services.quotes.stop()
        await app.state.services.listing_changes.stop()
        await app.state.services.tenders.stop()
        await app.state.services.settlement.stop()
        await app.state.services.auctions.stop()


async def _before_request(request: Request[Any, Any, Any]) -> None:
    raise_identity_error(request)


def create_app(
    services: Services, *, secure_cookies: bool = False, debug: bool = False, run_engine: bool = True,
    feed_port: int | None = None, feed_url: str | None = None,
    settlement_account: SettlementAccount | None = None,
) -> Litestar:
    """`feed_url` (e.g. wss://exchange.example.org) is where browsers reach the lot websockets;
    without it they use the page's own host name on `feed_port` (see web/feed.py).
    `settlement_account` is the bank account investors pay into (EXCHANGE_BANK_* by default)."""
    app = Litestar(
        route_handlers=[
            healthz,
            AccountsApi, AchievementsApi, ListingsApi, ReviewQueueApi, CatalogueApi, AuctionsApi, LotBidsApi,
            DepositsApi, BankTransfersApi, TradesApi, PayoutsApi, MoneyApi,
            TendersApi, TenderSecuritiesApi, ProblemsApi, ProblemEscrowsApi,
            CataloguePages, AuthPages, InstitutionPages, OperatorPages, AccountPages, AuctionPages,
            MoneyPages, SettlementDeskPages, CertificatePages,
            TenderPages, ProblemPages,
            QuoteRoundIndexApi, QuoteRoundsApi, QuotePages,
            AgreementsApi, AgreementPages,
            DisclosuresApi, DisclosurePages,
            ListingChangesApi, ListingChangePages,
            ListingProcedureApi, ListingProcedurePages,
            create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False),
        ],
        middleware=[InputGuard(), ReceiptMiddleware(), IdentityMiddleware(secure_cookies=secure_cookies)],
        on_startup=[_start],
        on_shutdown=[_stop],
        before_request=_before_request,
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title="Technology Transfer Exchange API",
            version="0.1.0",
            description=(
                "Listings, achievements and the public catalogue. Authenticate with "
                "`Authorization: Bearer <API token>` (POST /api/tokens) or, from a browser, with "
                "the session cookie plus the `X-CSRF-Token` header on state-changing calls."
            ),
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(security_schemes={
                "apiToken": SecurityScheme(type="http", scheme="bearer", description="API token from POST /api/tokens"),
            }),
            security=[{"apiToken": []}],
        ),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # the process's own logging (web/cli.py); errors are logged by web/errors.py
        response_cache_config=ResponseCacheConfig(),
        debug=debug,
    )
    app.state.services = services
    app.state.run_engine = run_engine
    app.state.feed_port = feed_port
    app.state.feed_url = feed_url
    app.state.settlement_account = settlement_account or SettlementAccount.from_env(os.environ)
    app.state.trusted_proxies = TrustedProxies.from_env(os.environ)
    app.state.ocds = Publication.from_env(os.environ)
    return app
