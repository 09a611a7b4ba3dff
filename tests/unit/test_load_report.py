"""The load report (JSON and a self-contained HTML page with SVG charts), the README bench table, the Locust file."""

from __future__ import annotations

import json
import re
import xml.dom.minidom
from pathlib import Path

import pytest

from exchange.bench.readme import BEGIN, END, rewrite, table
from exchange.config import PROJECT_ROOT
from exchange.load.report import write_report
from exchange.load.runner import Plan, Recorder, Result, summary


def _report() -> dict[str, object]:
    recorder = Recorder()
    for n in range(30):
        recorder.record(Result("bid", "ok" if n % 10 else "rejected", "" if n % 10 else "bid_too_low"),
                        0.004 + n / 1000, recorder.started + n / 10)
    recorder.record(Result("bid", "error", "503"), 0.5, recorder.started + 2.5)
    recorder.sent = 31
    return {"scenario": "hotlot", "description": "a war", "target": "http://127.0.0.1:8000", "feed": "ws://127.0.0.1:8001",
            "started_at": "2026-11-25T10:00:00+00:00", "setup_s": 1.0, "options": {"rate": 10.0}, "plan": {},
            "latency_from": "the intended send time", "machine": {"cpus": 2, "python": "3.11.7", "platform": "x"},
            **summary(recorder, Plan(rate=10, duration=3), 3.1), "scenario_figures": {"bids_committed": 27}}


def test_the_report_has_every_figure_and_charts_that_open_in_a_browser(tmp_path: Path) -> None:
    json_path, html_path = write_report(_report(), tmp_path / "out")
    report = json.loads(json_path.read_text())
    bid = report["operations"]["bid"]
    assert (bid["ok"], bid["rejected"], bid["error"], bid["count"]) == (27, 3, 1, 31)
    assert set(bid["latency_ms"]) == {"p50", "p90", "p99", "p99.9", "max", "mean"}
    assert bid["hdr"] and [s["second"] for s in bid["per_second"]] == [0, 1, 2]
    assert report["offered_rate_per_s"] == 10 and report["error_total"] == 1
    html = html_path.read_text()
    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(charts) == 3  # latency over time, throughput, errors
    for chart in charts:
        xml.dom.minidom.parseString(chart)
    assert 'class="p99"' in charts[0] and 'class="error"' in charts[2]
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "").replace("http://127.0.0.1:8000", "")
    assert "<script" not in html


def test_the_readme_table_is_rewritten_between_the_markers_only() -> None:
    readme = f"# Title\n\n## Benchmarks\n\nIntro.\n\n{BEGIN}\nold table\n{END}\n\nWhy targets were missed.\n"
    results = {"hotlot": {"sequencer_bids_per_s": 5400.0, "baseline_bids_per_s": 880.0, "speedup": 6.14,
                          "ack_p99_ms_at_half_peak": 22.5, "ack_p50_ms_at_half_peak": 4.2,
                          "ack_max_ms_at_half_peak": 60.1, "half_peak_rate_per_s": 2700.0},
               "fanout-5000": {"watchers": 5000, "offered_bids_per_s": 10.0, "p99_ms": 120.0, "p50_ms": 50.0,
                               "max_ms": 200.0, "deliveries_received": 500000, "deliveries_expected": 500000,
                               "watchers_dropped": 0, "bids": 100, "bid_errors": 0}}
    updated = rewrite(readme, table(results, cpus=2))
    assert updated.startswith("# Title\n\n## Benchmarks\n\nIntro.\n\n" + BEGIN)
    assert updated.endswith(END + "\n\nWhy targets were missed.\n")
    assert "old table" not in updated
    assert "2 cores" in updated
    assert "one transaction per bid with a row lock: 880 bids/s (6.14x) | >= 3x: met" in updated
    assert "p99 <= 10 ms: **missed**" in updated and "p99 <= 50 ms: **missed**" in updated
    assert rewrite(updated, table(results, cpus=2)).count(BEGIN) == 1


def test_a_readme_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="bench:begin"):
        rewrite("# no markers\n", "table")


def test_the_locust_file_compiles_without_locust_installed() -> None:
    source = (PROJECT_ROOT / "loadtests" / "locustfile.py").read_text()
    compile(source, "locustfile.py", "exec")
    assert "from locust import" in source
