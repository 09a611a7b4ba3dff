"""The deposit rule of qualification: with a deposit on the listing, it must be held to bid."""

from __future__ import annotations

from exchange.accounts.types import Account
from exchange.auctions.lot import LotInfo
from exchange.infra.db import Conn


class DepositHeld:
    async def problem(self, conn: Conn, auction: LotInfo, account: Account) -> str | None:
        row = await conn.fetchrow(
            """SELECT l.deposit, d.status, d.reference_code FROM listings l
               LEFT JOIN deposits d ON d.auction_id = $2 AND d.investor_id = $3 WHERE l.id = $1""",
            auction.listing_id, auction.id, account.id)
        if row is None or row["deposit"] == 0 or row["status"] == "held":
            return None
        if row["status"] is None:
            return "no deposit has been asked of this investor"
        return f"the deposit {row['reference_code']} is {row['status']}, not held"
