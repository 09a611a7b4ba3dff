"""Who may bid once a listing's procedure decided its competition: exactly its qualified
buyers who paid the deposit in time (a `Qualification` of the auction engine, also asked by
the operator's manual qualification)."""

from __future__ import annotations

from exchange.accounts.types import Account
from exchange.auctions.lot import LotInfo
from exchange.infra.db import Conn
from exchange.listings import repository as repo


async def buyer_problem(conn: Conn, listing_id: int, investor_id: int) -> str | None:
    """Why `investor_id` may not bid for the listing; None when it may, or when the listing is
    sold by the operator's direct auction (no procedure outcome)."""
    listing = await conn.fetchrow("SELECT deposit, outcome_at FROM listings WHERE id = $1", listing_id)
    if listing is None or listing["outcome_at"] is None:
        return None
    status = await conn.fetchval(
        "SELECT status FROM listing_intents WHERE listing_id = $1 AND investor_id = $2", listing_id, investor_id)
    if status != "qualified":
        return "only the buyers qualified in the listing's procedure may bid"
    if investor_id not in await repo.buyers(conn, listing_id, listing["deposit"]):
        return "this buyer did not pay the deposit in time and lost the right to bid"
    return None


class ProcedureBuyers:
    async def problem(self, conn: Conn, auction: LotInfo, account: Account) -> str | None:
        return await buyer_problem(conn, auction.listing_id, account.id)
