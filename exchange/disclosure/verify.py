"""`exchange verify`: the disclosure chain is intact and every closed auction's published
outcome is the one its own event log gives when replayed through the matching engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from exchange.auctions import repository as auctions
from exchange.auctions.lot import Lot
from exchange.disclosure import repository as repo
from exchange.disclosure.types import GENESIS, Kind, expected_hash
from exchange.infra.db import Conn

AUCTION_BATCH = 200


@dataclass
class Report:
    records: int = 0
    auctions: int = 0
    broken_seq: int | None = None  # the first record whose hash or link does not hold
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_chain(conn: Conn, report: Report) -> None:
    previous_seq, previous_hash = 0, GENESIS
    async for record in repo.each(conn):
        report.records += 1
        problem = None
        if record.seq != previous_seq + 1:
            problem = f"follows record {previous_seq}: records are missing"
        elif record.prev_hash != previous_hash:
            problem = f"prev_hash {record.prev_hash[:16]}… is not the hash of record {previous_seq}"
        elif record.hash != expected_hash(record):
            problem = f"its content does not give its hash {record.hash[:16]}… (edited after publication)"
        if problem is not None:
            report.broken_seq = record.seq
            report.problems.append(f"disclosure record {record.seq} ({record.kind} {record.procedure}): {problem}")
            return
        previous_seq, previous_hash = record.seq, record.hash


async def verify_auctions(conn: Conn, report: Report) -> None:
    """Replays each closed auction's events and compares the outcome with the auctions row
    and with the deal announcement or failure notice published for it."""
    after = 0
    while True:
        rows = await conn.fetch(
            f"SELECT {auctions.COLUMNS} FROM {auctions.FROM} WHERE a.status = 'closed' AND a.id > $1 "
            "ORDER BY a.id LIMIT $2", after, AUCTION_BATCH)
        if not rows:
            return
        events = await auctions.events_of(conn, [row["id"] for row in rows])
        for row in rows:
            report.auctions += 1
            report.problems.extend(await _auction_problems(conn, row, Lot.replay(auctions.info_of(row), events[row["id"]])))
        after = rows[-1]["id"]


async def _auction_problems(conn: Conn, row: asyncpg.Record, lot: Lot) -> list[str]:
    auction_id: int = row["id"]
    name = f"auction {auction_id} ({row['reference_no']})"
    if lot.result is None:
        return [f"{name}: closed, but its events do not close it"]
    sold, price = bool(lot.result["sold"]), lot.result["price"]
    winner = int(lot.committed.leader) if sold else None
    found = []
    if lot.book.state_hash() != row["state_hash"]:
        found.append(f"{name}: the replayed book's state hash differs from the stored one")
    if (row["sold"], row["price"] if row["sold"] else None, row["winner_id"] if row["sold"] else None) != (sold, price, winner):
        found.append(f"{name}: the auctions row says sold={row['sold']} price={row['price']} winner={row['winner_id']}, "
                     f"its events give sold={sold} price={price} winner={winner}")
    published = await repo.latest_result(conn, auction_id)
    if published is None:
        return [*found, f"{name}: no deal announcement or failure notice was published"]
    body = published.body
    told = (published.kind == Kind.DEAL_ANNOUNCEMENT, body.get("price"), (body.get("parties") or {}).get("buyer_code"))
    derived = (sold, price, lot.result["winner"])
    if told != derived:
        found.append(f"{name}: disclosure record {published.seq} ({published.kind}) publishes sold={told[0]} "
                     f"price={told[1]} winner={told[2]}, its events give sold={sold} price={price} winner={derived[2]}")
    return found


async def verify(conn: Conn) -> Report:
    """Both checks in one consistent snapshot (the caller's transaction, or one of its own)."""
    report = Report()
    if not conn.is_in_transaction():
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await verify(conn)
    await verify_chain(conn, report)
    await verify_auctions(conn, report)
    return report
