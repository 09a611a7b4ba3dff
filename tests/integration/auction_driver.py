"""A real auction engine in its own process, bidding from concurrent tasks until killed.

    python -m tests.integration.auction_driver DATABASE_URL REDIS_URL AUCTION_ID

Every admitted bidder of the auction bids in its own task; each acknowledged bid is
printed as `ACK <seq> <amount> <account id>`, flushed, after the engine answered it.
The kill -9 test reads these lines and then kills the process mid-war.
"""

from __future__ import annotations

import asyncio
import random
import sys

import redis.asyncio as aioredis

from exchange.accounts import repository as accounts
from exchange.accounts.types import Account
from exchange.auctions.service import AuctionService
from exchange.clock import SystemClock
from exchange.infra.db import create_pool


async def bid_forever(engine: AuctionService, account: Account, auction_id: int, seed: int) -> None:
    rng = random.Random(seed)
    room = await engine.room(auction_id, account)
    minimum, step = room["minimum_bid"], room["step"]
    while True:
        ack = await engine.submit_bid(account, auction_id, "bid", minimum + rng.randrange(0, 3) * step, None)
        if ack["status"] == "accepted":
            print(f"ACK {ack['seq']} {ack['amount']} {account.id}", flush=True)
        minimum = ack["minimum_bid"]
        await asyncio.sleep(0)


async def main(database_url: str, redis_url: str, auction_id: int) -> None:
    pool = await create_pool(database_url, min_size=2, max_size=5)
    redis = aioredis.Redis.from_url(redis_url)
    engine = AuctionService(pool, redis, SystemClock())
    await engine.start()
    async with pool.acquire() as conn:
        ids = await conn.fetch("SELECT account_id FROM auction_bidders WHERE auction_id = $1", auction_id)
        bidders = [await accounts.account_by_id(conn, row["account_id"]) for row in ids]
    print("READY", flush=True)
    await asyncio.gather(*(bid_forever(engine, account, auction_id, i)
                           for i, account in enumerate(bidders) if account is not None))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
