"""`exchange bench readme`: the README's benchmark table, rewritten from the JSON of one `make bench` run.

The table sits between BEGIN and END; everything else in the README is left as it is.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
FILES = ("core", "hotlot", "http", "mixed", "restart", "fanout-1000", "fanout-5000", "transport")


def _k(value: float) -> str:
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k" if value >= 1e4 else f"{value:,.0f}"


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One row per figure with a target: what, command, measured, beside it, target."""
    found = []
    if core := results.get("core"):
        found.append(["English-auction bid evaluation, one core", "`exchange bench core --json`",
                      f"{_k(core['fast_bids_per_s'])} bids/s (best of {core['repeats']} runs)",
                      f"reference engine {_k(core['reference_bids_per_s'])} bids/s, same state hash",
                      f">= 2M bids/s: {_verdict(core['fast_bids_per_s'] >= 2e6)}"])
    if hot := results.get("hotlot"):
        found.append(["durable bids on one hot lot", "`exchange bench hotlot --json`",
                      f"sequencer {_k(hot['sequencer_bids_per_s'])} bids/s, every bid with its idempotency key",
                      f"one transaction per bid with a row lock: {_k(hot['baseline_bids_per_s'])} bids/s "
                      f"({hot['speedup']}x)", f">= 3x: {_verdict(hot['speedup'] >= 3)}"])
        engine = (f"the engine alone, in the benchmark's process, at half of its own peak "
                  f"({_k(hot['engine_half_peak_rate_per_s'])} bids/s): p99 {hot['engine_ack_p99_ms_at_half_peak']} ms"
                  if "engine_ack_p99_ms_at_half_peak" in hot else "")
        found.append(["bid acknowledgement latency at half of peak, over HTTP through `exchange run`", "same",
                      f"p99 {hot['ack_p99_ms_at_half_peak']} ms, p50 {hot['ack_p50_ms_at_half_peak']} ms, "
                      f"max {hot['ack_max_ms_at_half_peak']} ms at {_k(hot['half_peak_rate_per_s'])} bids/s", engine,
                      f"p99 <= 10 ms: {_verdict(hot['ack_p99_ms_at_half_peak'] <= 10)}"])
    if http := results.get("http"):
        found.append(["bid answers over HTTP through `exchange run`, generator in processes of its own",
                      "`exchange bench http --json`",
                      f"{_k(http['http_bids_per_s'])} bids/s (p50 {http['p50_ms']} ms, p99 {http['p99_ms']} ms, "
                      f"{http['connections']} connections)", _answers(http["answers"]),
                      f">= 5,000 bids/s: {_verdict(http['http_bids_per_s'] >= 5000)}"])
    if mixed := results.get("mixed"):
        ratio = mixed["bid_ack_p99_ms_with_logins"] / mixed["bid_ack_p99_ms_alone"]
        share = mixed["bids_acknowledged_share"]
        found.append([f"bids at {mixed['bid_rate_per_s']:g}/s during {mixed['logins_per_s']:g} correct logins/s",
                      "`exchange bench mixed --json`",
                      f"bid p99 {mixed['bid_ack_p99_ms_with_logins']} ms with the logins ({ratio:.1f}x), "
                      f"{share:.2%} acknowledged",
                      f"bid p99 {mixed['bid_ack_p99_ms_alone']} ms alone; logins: {_answers(mixed['login_answers'])}",
                      f"<= 1.5x and 100%: {_verdict(ratio <= 1.5 and share == 1)}"])
    if restart := results.get("restart"):
        found.append([f"restart with {restart['open_lots']:,} open lots ({restart['events']:,} events)",
                      "`exchange bench restart --json`",
                      f"books rebuilt in {restart['rebuild_s']} s, first bid acknowledged "
                      f"{restart['first_ack_after_restart_s']} s after the start",
                      f"{restart['lots_with_same_state_hash']:,} of {restart['open_lots']:,} state hashes equal "
                      "to those before the stop",
                      f"<= 5 s: {_verdict(restart['first_ack_after_restart_s'] <= 5)}"])
    for name in ("fanout-1000", "fanout-5000"):
        if fan := results.get(name):
            target = f"p99 <= 50 ms: {_verdict(fan['p99_ms'] <= 50)}" if fan["watchers"] >= 5000 else ""
            floor = fan.get("floor")
            beside = (f"bare `websockets.broadcast` server, same frames and watchers: p99 {floor['p99_ms']} ms "
                      f"(p50 {floor['p50_ms']} ms); " if floor else "")
            found.append([f"fan-out, {fan['watchers']:,} watchers of one lot, {fan['offered_bids_per_s']:g} bids/s"
                          + (f", {fan['feed_gateways']} feed gateways" if fan.get("feed_gateways") else ""),
                          f"`exchange bench fanout --watchers {fan['watchers']} --json`",
                          f"p99 {fan['p99_ms']} ms (p50 {fan['p50_ms']} ms, max {fan['max_ms']} ms) from the bid's receipt",
                          beside + f"{fan['deliveries_received']:,} of {fan['deliveries_expected']:,} deliveries "
                          f"received, {fan['watchers_dropped']} watchers dropped; {fan['bids']} bids accepted, "
                          f"{fan['bid_errors']} not", target])
    if transport := results.get("transport"):
        link, streams = transport["engine_link"], transport["redis_streams"]
        found.append(["a bid from gateway to engine and back, transport alone", "`exchange bench transport --json`",
                      f"engine link: round trip p50 {link['round_trip_p50_ms']} ms, {_k(link['calls_per_s_256_in_flight'])}"
                      " calls/s", f"Redis Streams (consumer group): p50 {streams['round_trip_p50_ms']} ms, "
                      f"{_k(streams['calls_per_s_256_in_flight'])} calls/s", ""])
    return found


def _answers(statuses: dict[str, int]) -> str:
    return ", ".join(f"{count:,} answered {status}" for status, count in sorted(statuses.items()))


def table(results: dict[str, dict[str, Any]], *, when: datetime | None = None, cpus: int | None = None) -> str:
    when = when or datetime.now(UTC)
    head = (f"Figures of one `make bench` run on {when:%Y-%m-%d}, on this repository's machine: "
            f"{cpus or os.cpu_count()} cores, Python {platform.python_version()}. The comparison in "
            "\"beside it\" was measured in the same run.")
    lines = [head, "", "| what | command | measured | beside it (same run) | target |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def rewrite(readme: str, new_table: str) -> str:
    """The README with the text between the markers replaced; the markers must be there once each."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(f"the README needs exactly one {BEGIN} followed by one {END}")
    before, rest = readme.split(BEGIN)
    _, after = rest.split(END)
    return f"{before}{BEGIN}\n{new_table}\n{END}{after}"


def load_results(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in FILES:
        path = directory / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text().strip().splitlines()[-1])
    return found


def update_readme(directory: Path, readme: Path) -> int:
    results = load_results(directory)
    readme.write_text(rewrite(readme.read_text(), table(results)))
    return len(results)
