"""An agreement-pricing notice (协议定价公示) in the demo: a demo institution sells a patent to a
demo investor at an agreed price; the notice runs 15 days (15 minutes at the demo's
acceleration), so a visitor can read it and, logged in as another account, object.

Called at every start of the demo exchange: on the first start it records the achievement and
publishes the notice; later starts leave the procedure to run its course (the notice clears
and its trade settles, or a visitor's objection is answered).
"""

from __future__ import annotations

import json
import logging

from exchange.achievements.types import AchievementInput, Document
from exchange.agreements.types import AgreementInput
from exchange.demo.loader import DATA
from exchange.errors import ExchangeError
from exchange.services import Services

log = logging.getLogger(__name__)

SELLER = "ip@xiling-materials.demo"
BUYER = "buyer@huaxin.demo"
TITLE = "钙钛矿太阳能电池柔性封装方法"
ACHIEVEMENT = AchievementInput(
    title=TITLE, title_en="Flexible encapsulation of perovskite solar cells",
    summary="多层阻隔薄膜低温封装工艺，水汽透过率低于 1e-4 g/m²/天，组件 85℃/85%RH 老化 1000 小时效率保持 95% 以上。",
    summary_en="Low-temperature multilayer barrier encapsulation: water-vapour transmission below 1e-4 g/m²/day; "
               "modules keep over 95% efficiency after 1,000 hours at 85 °C / 85% RH.",
    field="new_energy", kind="patent", funding_source="public", maturity="pilot", currency="CNY",
    ip_identifiers=["ZL202210778899.5"], inventors=["周岚", "陈立"], programme="省重点研发计划",
    appraised_value=2_400_000_00,
    documents=[Document(title="资产评估报告", kind="appraisal_report", pages=24)],
)
PRICE = 2_600_000_00


async def ensure_demo_agreement(services: Services) -> int | None:
    """The id of the notice published now, or None when the demo already has one (or none can be)."""
    async with services.pool.acquire() as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM agreements)"):
            return None
    data = json.loads(DATA.read_text(encoding="utf-8"))
    if SELLER not in {i["email"] for i in data["institutions"]} or BUYER not in {i["email"] for i in data["investors"]}:
        return None
    seller = await services.accounts.by_email(SELLER)
    achievement_id = (await services.achievements.record(seller, ACHIEVEMENT)).id
    try:
        notice = await services.agreements.create(seller, AgreementInput(
            achievement_id=achievement_id, buyer_email=BUYER, price=PRICE, transfer_mode="assignment",
            related_party=False))
    except ExchangeError as exc:
        log.warning("no demo agreement notice: %s", exc.detail)
        return None
    log.info("demo agreement notice %s runs until %s", notice["reference_no"], notice["notice_end"])
    return int(notice["id"])
