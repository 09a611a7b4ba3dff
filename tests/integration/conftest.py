from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from exchange.accounts.types import Registration
from exchange.services import Services
from tests.integration.helpers import PASSWORD, register, token_for
from web.app import create_app


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
async def parties(client: httpx.AsyncClient, services: Services) -> dict[str, dict[str, Any]]:
    """Two institutions, an investor and an operator, each with an API token header."""
    await services.accounts.register(
        Registration(role="operator", email="op@exchange.test", password=PASSWORD, display_name="Operator"),
        allow_operator=True,
    )
    found: dict[str, dict[str, Any]] = {}
    for key, role, email, name in [
        ("inst", "institution", "tto@north.test", "北方大学 North University"),
        ("other_inst", "institution", "tto@south.test", "南方研究院 South Institute"),
        ("investor", "investor", "vc@capital.test", "启明资本 Qiming Capital"),
    ]:
        found[key] = {"account": await register(client, role, email, name)}
    found["operator"] = {}
    for key, email in [("inst", "tto@north.test"), ("other_inst", "tto@south.test"),
                       ("investor", "vc@capital.test"), ("operator", "op@exchange.test")]:
        found[key]["headers"] = await token_for(client, email)
    return found
