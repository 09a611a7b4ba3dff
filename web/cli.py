"""The `exchange` command: run the exchange, migrate, create operators, benchmark."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from exchange.config import Settings
from exchange.errors import ExchangeError, MigrationError

log = logging.getLogger("exchange")


def servers_of(settings: Settings, *, owner: bool = False) -> Any:
    from web.runtime import servers

    return servers(settings, owner=owner)


def _run_with_services(
    settings: Settings, work: Callable[..., Coroutine[Any, Any, int]], *, owner: bool = False,
) -> int:
    from web.runtime import open_services

    with servers_of(settings, owner=owner) as (database_url, redis_url):
        async def main() -> int:
            async with open_services(settings, database_url, redis_url) as services:
                return await work(services)

        return asyncio.run(main())


def cmd_run(args: argparse.Namespace) -> int:
    from web.roles import Ports

    settings = Settings.from_env()
    ports = Ports.of(settings, args.host, args.port, args.feed_port)
    # SIGTERM (a service manager, `kill`) stops a process as Ctrl-C does: it unwinds through
    # every cleanup, so embedded servers this process started are stopped too.
    signal.signal(signal.SIGTERM, _terminate)
    if args.role == "all":
        return _supervise(settings, ports, args)
    import uvloop

    from web import roles

    with servers_of(settings) as (database_url, redis_url):
        if args.role == "engine":
            return uvloop.run(roles.engine(settings, database_url, redis_url, ports))
        if args.role == "web":
            return uvloop.run(roles.web(settings, database_url, redis_url, ports, access_log=args.access_log))
        return uvloop.run(roles.feed(settings, database_url, redis_url, ports))


def _supervise(settings: Settings, ports: Any, args: argparse.Namespace) -> int:
    from web.runtime import migrate_database
    from web.supervisor import Supervisor, child_argv, default_workers, port_in_use

    web_workers = args.web_workers or default_workers()
    feed_workers = args.feed_workers or default_workers()
    for what, host, port in (("HTTP", ports.host, ports.http), ("live feed", ports.host, ports.feed),
                             ("engine link", settings.engine_host, ports.engine)):
        if port_in_use(host, port):
            print(f"port {port} ({what}) is in use: is another exchange running? Choose others with "
                  "--port/--feed-port and EXCHANGE_ENGINE_PORT.", file=sys.stderr)
            return 2
    with servers_of(settings, owner=True) as (database_url, redis_url):
        asyncio.run(migrate_database(settings, database_url))
        env = os.environ | {
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "EXCHANGE_SECRET_KEY": settings.secret_key,
            "EXCHANGE_VAR_DIR": str(settings.var_dir), "EXCHANGE_ENGINE_PORT": str(ports.engine),
        }
        extra = ["--host", ports.host, "--port", str(ports.http), "--feed-port", str(ports.feed)]
        if args.access_log:
            extra.append("--access-log")
        local = "127.0.0.1" if ports.host in ("0.0.0.0", "") else ports.host  # noqa: S104 - a comparison
        supervisor = Supervisor(lambda role: child_argv(role, extra), env,
                                [("engine", 1), ("web", web_workers), ("feed", feed_workers)],
                                health_url=f"http://{local}:{ports.http}/healthz")
        return supervisor.run(announce=lambda: print(
            f"The exchange is serving http://{ports.host}:{ports.http}, live feed on port {ports.feed} "
            f"(1 engine, {web_workers} web workers, {feed_workers} feed gateways)  (Ctrl-C stops it)",
            flush=True))


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def cmd_migrate(args: argparse.Namespace) -> int:
    async def done(services: Any) -> int:
        print("database is up to date")
        return 0

    return _run_with_services(Settings.from_env(), done)


def cmd_operator_create(args: argparse.Namespace) -> int:
    from exchange.accounts.types import Registration

    password = os.environ.get("EXCHANGE_OPERATOR_PASSWORD") or getpass.getpass("Password for the operator: ")

    async def create(services: Any) -> int:
        account = await services.accounts.register(
            Registration(role="operator", email=args.email, password=password, display_name=args.name),
            allow_operator=True,
        )
        print(f"operator {account.email} created (id {account.id})")
        return 0

    return _run_with_services(Settings.from_env(), create)


def cmd_demo_load(args: argparse.Namespace) -> int:
    from exchange.demo.loader import demo_loaded, load_demo

    async def load(services: Any) -> int:
        if await demo_loaded(services):
            print("the database already has accounts; the demo data set is loaded only into an empty one")
            return 1
        print(json.dumps(await load_demo(services)))
        return 0

    return _run_with_services(Settings.from_env(), load)


def cmd_ledger_check(args: argparse.Namespace) -> int:
    from exchange.ledger.check import INVARIANTS, check

    async def run(services: Any) -> int:
        async with services.pool.acquire() as conn:
            failures = await check(conn)
        for failure in failures:
            print(f"FAILED: {failure.invariant}")
            for entry in failure.entries:
                print("  " + json.dumps(entry, default=str, ensure_ascii=False))
        print(f"{len(INVARIANTS) - len(failures)} of {len(INVARIANTS)} ledger invariants hold")
        return 1 if failures else 0

    return _run_with_services(Settings.from_env(), run)


def cmd_verify(args: argparse.Namespace) -> int:
    from exchange.disclosure.verify import verify

    async def run(services: Any) -> int:
        async with services.pool.acquire() as conn:
            report = await verify(conn)
        for problem in report.problems:
            print(f"FAILED: {problem}")
        chain = "intact" if report.broken_seq is None else f"broken at record {report.broken_seq}"
        print(f"disclosure chain of {report.records} records {chain}; {report.auctions} closed auctions re-derived "
              f"from their events; {len(report.problems)} problems")
        return 0 if report.ok else 1

    return _run_with_services(Settings.from_env(), run)


def _report(result: dict[str, Any], as_json: bool) -> int:
    """A benchmark's figures: one JSON object, or one aligned line per figure."""
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    return 0


def cmd_bench_core(args: argparse.Namespace) -> int:
    from exchange.bench.core import run_core_bench

    return _report(run_core_bench(seed=args.seed, bids=args.bids), args.json)


def cmd_bench_fanout(args: argparse.Namespace) -> int:
    from exchange.bench.fanout import run_fanout

    return _report(asyncio.run(run_fanout(args.watchers, args.rate, args.duration)), args.json)


def cmd_bench_hotlot(args: argparse.Namespace) -> int:
    from exchange.bench.hotlot import run_hotlot_bench

    return _report(run_hotlot_bench(seconds=args.seconds, bidders=args.bidders, concurrency=args.concurrency),
                   args.json)


def cmd_bench_http(args: argparse.Namespace) -> int:
    from exchange.bench.http import run_http_bench

    return _report(run_http_bench(seconds=args.seconds, bidders=args.bidders, workers=args.generators,
                                  connections=args.connections, rates=tuple(args.rate or ())), args.json)


def cmd_bench_mixed(args: argparse.Namespace) -> int:
    from exchange.bench.http import run_mixed_bench

    return _report(run_mixed_bench(seconds=args.seconds, rate=args.rate, logins_per_s=args.logins), args.json)


def cmd_bench_transport(args: argparse.Namespace) -> int:
    from exchange.bench.transport import run_transport_bench

    return _report(run_transport_bench(), args.json)


def cmd_bench_restart(args: argparse.Namespace) -> int:
    from exchange.bench.restart import run_restart_bench

    return _report(run_restart_bench(lots=args.lots, bids=args.bids), args.json)


def cmd_bench_readme(args: argparse.Namespace) -> int:
    from exchange.bench.readme import update_readme

    count = update_readme(args.results, args.readme)
    print(f"{args.readme}: benchmark table rewritten from {count} results in {args.results}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from exchange.load.report import write_report
    from exchange.load.run import SCENARIOS, default_directory, feed_url_for, run_load
    from exchange.load.runner import Plan
    from exchange.load.scenarios import Options, Target

    scenario = SCENARIOS[args.scenario]
    options = Options(
        rate=args.rate or scenario.default_rate, duration=args.duration, bidders=args.bidders,
        watchers=args.watchers, lots=args.lots, quiet_period_s=args.quiet_period,
        wrong_password_share=args.wrong_password_share, watcher_processes=args.watcher_processes,
        seed=args.seed, operator_email=args.operator_email, operator_password=args.operator_password)
    plan = Plan(options.rate, options.duration, max_requests=args.max_requests, drain_s=args.drain)
    target = None if args.target is None else Target(args.target.rstrip("/"), args.feed_url or feed_url_for(args.target))
    print(f"{args.scenario}: {plan.requests} requests at {plan.rate:g}/s against "
          f"{target.url if target else 'an exchange started here'}", file=sys.stderr, flush=True)
    report = asyncio.run(run_load(args.scenario, options, plan, target, progress=not args.no_progress))
    json_path, html_path = write_report(report, args.out or default_directory(args.scenario))
    print(f"sent {report['sent']}, ok {report['ok_total']}, rejected {report['rejected_total']}, "
          f"429 {report['limited_total']}, errors {report['error_total']}; report: {html_path} ({json_path.name} beside it)")
    for name, operation in report["operations"].items():
        latency = operation["latency_ms"]
        print(f"  {name:>10}: " + ", ".join(f"{k} {v} ms" for k, v in latency.items() if k != "mean"))
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    from exchange.load.chaos import EXTRA_FAULTS, FAULTS, ChaosOptions, render, run_chaos

    faults = FAULTS if args.faults == "all" else tuple(f.strip() for f in args.faults.split(",") if f.strip())
    if unknown := sorted(set(faults) - set(FAULTS + EXTRA_FAULTS)):
        print(f"unknown faults {', '.join(unknown)}; choose from {', '.join(FAULTS + EXTRA_FAULTS)} (or all)",
              file=sys.stderr)
        return 2
    logging.getLogger("websockets").setLevel(logging.WARNING)  # watchers reconnecting through every fault
    options = ChaosOptions(duration=args.duration, rate=args.rate, faults=faults, seed=args.seed, workdir=args.workdir)
    report = asyncio.run(run_chaos(options, progress=lambda text: print(text, file=sys.stderr, flush=True)))
    print(json.dumps(report, ensure_ascii=False) if args.json else render(report))
    return 1 if report["failures"] else 0


def _load_parser(sub: Any) -> None:
    from exchange.load.run import SCENARIOS

    load = sub.add_parser("load", help="run a load scenario against an exchange and write its report",
                          description="Runs a bounded open-model load (constant arrival rate, latency from the "
                          "intended send time) and writes report.json and report.html.")
    load.add_argument("scenario", choices=sorted(SCENARIOS))
    load.add_argument("--target", help="base URL of the exchange to load (default: start one here on loopback)")
    load.add_argument("--feed-url", help="its lot websockets, ws://host:port (default: the target's port + 1)")
    load.add_argument("--rate", type=_positive, help="requests per second (default: the scenario's)")
    load.add_argument("--duration", type=_positive, default=20.0, help="seconds of load (at most 3600)")
    load.add_argument("--bidders", type=int, default=20, help="investors the scenario registers")
    load.add_argument("--watchers", type=int, default=1_000, help="websocket watchers (watchers)")
    load.add_argument("--lots", type=int, help="auctions (many-lots: 200, watchers: 10)")
    load.add_argument("--quiet-period", type=int, default=5, help="seconds of a timed round")
    load.add_argument("--wrong-password-share", type=float, default=0.05, help="login-storm: share of wrong passwords")
    load.add_argument("--watcher-processes", type=int, default=2)
    load.add_argument("--seed", type=int, default=1)
    load.add_argument("--operator-email", default="operator@exchange.demo")
    load.add_argument("--operator-password", default="operator-pass-2026")
    load.add_argument("--max-requests", type=int, default=1_000_000, help="a bound on requests, whatever the rate")
    load.add_argument("--drain", type=_positive, default=30.0, help="seconds to wait for answers after the last send")
    load.add_argument("--out", type=Path, help="report directory (default: reports/load/<scenario>-<time>)")
    load.add_argument("--no-progress", action="store_true")
    load.set_defaults(func=cmd_load)


def _count(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 64")
    return value


def _positive(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be above 0 and at most 3600")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the exchange (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL)",
                         description="With --role all (the default) starts and supervises the engine, the web "
                         "workers and the feed gateways as separate processes; another role runs that one process.")
    run.add_argument("--role", choices=["all", "engine", "web", "feed"], default="all")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--feed-port", type=int, help="port of the lot websockets (default: port + 1)")
    run.add_argument("--web-workers", type=_count, help="HTTP worker processes (default: one per core, at most 4)")
    run.add_argument("--feed-workers", type=_count, help="feed gateway processes (default: one per core, at most 4)")
    run.add_argument("--access-log", action="store_true", help="log every HTTP request")
    run.set_defaults(func=cmd_run)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(func=cmd_migrate)

    operator = sub.add_parser("operator", help="manage operator accounts")
    operator_sub = operator.add_subparsers(dest="action", required=True)
    create = operator_sub.add_parser("create", help="create an operator (password from EXCHANGE_OPERATOR_PASSWORD or a prompt)")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.set_defaults(func=cmd_operator_create)

    demo = sub.add_parser("demo", help="the demo data set")
    demo_sub = demo.add_subparsers(dest="action", required=True)
    demo_sub.add_parser("load", help="load the demo data set into an empty database").set_defaults(func=cmd_demo_load)

    ledger_cmd = sub.add_parser("ledger", help="the double-entry ledger")
    ledger_sub = ledger_cmd.add_subparsers(dest="action", required=True)
    ledger_sub.add_parser(
        "check", help="verify the ledger's invariants on the database; exits 1 naming the offending entries",
    ).set_defaults(func=cmd_ledger_check)

    sub.add_parser(
        "verify", help="check the disclosure hash chain and re-derive every closed auction's outcome from its "
                       "events; exits 1 naming the offending records",
    ).set_defaults(func=cmd_verify)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="target", required=True)
    core = bench_sub.add_parser("core", help="matching_core English-auction bid evaluation, fast vs reference engine")
    core.add_argument("--json", action="store_true")
    core.add_argument("--seed", type=int, default=42)
    core.add_argument("--bids", type=int, default=1_000_000)
    core.set_defaults(func=cmd_bench_core)
    hotlot = bench_sub.add_parser(
        "hotlot", help="one hot lot: sequencer vs one transaction per bid, ack latency at half peak")
    hotlot.add_argument("--json", action="store_true")
    hotlot.add_argument("--seconds", type=float, default=8.0, help="length of each of the three phases")
    hotlot.add_argument("--bidders", type=int, default=50)
    hotlot.add_argument("--concurrency", type=int, default=200, help="bids in flight in the closed loops")
    hotlot.set_defaults(func=cmd_bench_hotlot)
    restart = bench_sub.add_parser("restart", help="open lots rebuilt after a restart: time to take bids again")
    restart.add_argument("--json", action="store_true")
    restart.add_argument("--lots", type=int, default=1_000)
    restart.add_argument("--bids", type=int, default=20, help="bids per lot before the restart")
    restart.set_defaults(func=cmd_bench_restart)
    fanout = bench_sub.add_parser("fanout", help="websocket watchers of one lot: bid commit to watcher receipt")
    fanout.add_argument("--json", action="store_true")
    fanout.add_argument("--watchers", type=int, default=1000)
    fanout.add_argument("--rate", type=float, default=10.0, help="bids per second")
    fanout.add_argument("--duration", type=float, default=10.0, help="seconds of bidding")
    fanout.set_defaults(func=cmd_bench_fanout)
    http = bench_sub.add_parser("http", help="bid answers per second over HTTP through exchange run, from "
                                "generator processes of their own; latency at half of that peak")
    http.add_argument("--json", action="store_true")
    http.add_argument("--seconds", type=float, default=8.0, help="length of the peak and of the half-peak phase")
    http.add_argument("--bidders", type=int, default=50)
    http.add_argument("--generators", type=int, default=2, help="generator processes")
    http.add_argument("--connections", type=int, default=64, help="keep-alive connections per generator")
    http.add_argument("--rate", type=float, action="append",
                      help="also the acknowledgement latency at this many bids per second (repeatable)")
    http.set_defaults(func=cmd_bench_http)
    mixed = bench_sub.add_parser("mixed", help="bids at a fixed rate alone, then with correct logins from "
                                 "another client: does a login storm slow bidding?")
    mixed.add_argument("--json", action="store_true")
    mixed.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    mixed.add_argument("--rate", type=float, default=500.0, help="bids per second")
    mixed.add_argument("--logins", type=float, default=20.0, help="correct logins per second")
    mixed.set_defaults(func=cmd_bench_mixed)
    transport = bench_sub.add_parser("transport", help="gateway to engine: the engine link against Redis Streams")
    transport.add_argument("--json", action="store_true")
    transport.set_defaults(func=cmd_bench_transport)
    readme = bench_sub.add_parser("readme", help="rewrite the README's benchmark table from the JSON of a run")
    readme.add_argument("results", type=Path, help="directory of core.json, hotlot.json, restart.json, fanout-*.json")
    readme.add_argument("readme", type=Path, nargs="?", default=Path("README.md"))
    readme.set_defaults(func=cmd_bench_readme)
    _load_parser(sub)
    chaos = sub.add_parser("chaos", help="a bidding war on an exchange of its own while its processes and servers "
                           "fail one at a time; audits every bid, the feed, the ledger and the chain; exit 1 if anything "
                           "was lost, invented or doubled or a check failed")
    chaos.add_argument("--duration", type=_positive, default=60.0, help="seconds of bidding (longer if the faults need it)")
    chaos.add_argument("--rate", type=_positive, default=60.0, help="bids per second")
    chaos.add_argument("--faults", default="all", help="comma list, injected in its order: engine, web, feed, "
                       "redis-stop, redis-kill, postgres-kill (all: these six, the default), postgres-drop")
    chaos.add_argument("--seed", type=int, default=1)
    chaos.add_argument("--json", action="store_true")
    chaos.add_argument("--workdir", type=Path, help="keep the exchange's data and log here (default: a temporary "
                       "directory, removed)")
    chaos.set_defaults(func=cmd_chaos)
    return parser


def main(argv: list[str] | None = None) -> int:
    process = os.environ.get("EXCHANGE_PROCESS", "").replace("%", "")
    logging.basicConfig(level=os.environ.get("EXCHANGE_LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s %(levelname)s {'[' + process + '] ' if process else ''}%(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request of our own clients
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except MigrationError as exc:
        print(f"migration refused: {exc}", file=sys.stderr)
        return 2
    except ExchangeError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in exc.field_errors.items()) or exc.detail
        print(f"error: {detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
