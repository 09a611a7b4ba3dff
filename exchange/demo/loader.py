"""Loads data.json through the same services users go through, so the demo obeys every rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from exchange.accounts.types import Account, Registration
from exchange.achievements.types import AchievementInput
from exchange.listings.types import ListingInput, Review
from exchange.services import Services

DATA = Path(__file__).with_name("data.json")


async def demo_loaded(services: Services) -> bool:
    async with services.pool.acquire() as conn:
        found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM accounts)")
    return found


async def load_demo(services: Services) -> dict[str, int]:
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    op = data["operator"]
    operator = await services.accounts.register(
        Registration(role="operator", email=op["email"], password=op["password"], display_name=op["display_name"]),
        allow_operator=True,
    )
    for investor in data["investors"]:
        await services.accounts.register(Registration(role="investor", password=data["password"], **investor))
    institutions: dict[str, Account] = {}
    for inst in data["institutions"]:
        fields = {k: v for k, v in inst.items() if k != "key"}
        institutions[inst["key"]] = await services.accounts.register(
            Registration(role="institution", password=data["password"], **fields)
        )
    announced = 0
    for item in data["achievements"]:
        owner = institutions[item["owner"]]
        achievement = await services.achievements.record(
            owner, msgspec.convert(item["achievement"], AchievementInput)
        )
        listing = await services.listings.submit(
            owner, msgspec.convert({**item["listing"], "achievement_id": achievement.id}, ListingInput)
        )
        if item["approve"]:
            await services.listings.review(operator, listing.id, Review(decision="approve"))
            announced += 1
    return {"institutions": len(institutions), "achievements": len(data["achievements"]), "announced": announced}
