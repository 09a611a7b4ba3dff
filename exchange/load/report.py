"""The report of a load run: report.json with every figure, report.html with its charts.

The page is self-contained (inline SVG and CSS, no script, nothing fetched), so it opens from
disk on a machine without network.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 250, 60, 28, 26
LEGEND_Y = PAD_TOP - 9  # legends and the unit sit above the plot, never on it
LINES = {"p50": "#1b7837", "p90": "#2166ac", "p99": "#b2182b", "max": "#7f7f7f"}
BARS = {"ok": "#4daf4a", "rejected": "#ff7f00", "limited": "#377eb8", "error": "#e41a1c"}


def write_report(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "report.json", directory / "report.html"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    html_path.write_text(render_html(report))
    return json_path, html_path


def _frame(title: str, body: list[str], x_max: float, y_label: str) -> str:
    plot_w = WIDTH - PAD_LEFT - 10
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{HEIGHT - PAD_TOP - PAD_BOTTOM}" '
             'fill="none" stroke="#ccc"/>']
    for n in range(6):
        second = x_max * n / 5
        x = PAD_LEFT + plot_w * n / 5
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" font-size="11" text-anchor="middle">{second:.0f}s</text>')
    parts.append(f'<text x="4" y="{LEGEND_Y}" font-size="11">{escape(y_label)}</text>')
    return "".join(parts + body + ["</svg>"])


def _x(second: float, x_max: float) -> float:
    return PAD_LEFT + (WIDTH - PAD_LEFT - 10) * (second / x_max if x_max else 0)


def latency_chart(title: str, per_second: list[dict[str, Any]]) -> str:
    """Latency percentiles per second on a log scale (ms)."""
    values = [row["latency_ms"][k] for row in per_second for k in LINES if row["latency_ms"][k]]
    low = 10 ** math.floor(math.log10(max(min(values, default=1.0), 0.01)))
    high = 10 ** math.ceil(math.log10(max(max(values, default=10.0), low * 10)))
    x_max = max((row["second"] + 1 for row in per_second), default=1)
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y(ms: float) -> float:
        return PAD_TOP + plot_h * (1 - (math.log10(ms) - math.log10(low)) / (math.log10(high) - math.log10(low)))

    body = []
    decade = low
    while decade <= high:
        body.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - 10}" y1="{y(decade):.1f}" y2="{y(decade):.1f}" stroke="#eee"/>'
                    f'<text x="{PAD_LEFT - 4}" y="{y(decade) + 4:.1f}" font-size="11" text-anchor="end">{decade:g}</text>')
        decade *= 10
    for n, (name, colour) in enumerate(LINES.items()):
        points = " ".join(f"{_x(row['second'] + 0.5, x_max):.1f},{y(row['latency_ms'][name]):.1f}"
                          for row in per_second if row["latency_ms"][name])
        body.append(f'<polyline class="{name}" fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
                    f'<text x="{PAD_LEFT + 10 + 60 * n}" y="{LEGEND_Y}" font-size="11" fill="{colour}">{name}</text>')
    return _frame(title, body, x_max, "ms (log)")


def count_chart(title: str, per_second: list[dict[str, Any]], outcomes: tuple[str, ...]) -> str:
    """Answers per second, stacked by outcome."""
    x_max = max((row["second"] + 1 for row in per_second), default=1)
    top = max((sum(row[o] for o in outcomes) for row in per_second), default=0) or 1
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    bar_w = max(1.0, (WIDTH - PAD_LEFT - 10) / x_max - 1)
    body = [f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" font-size="11" text-anchor="end">{top}</text>',
            f'<text x="{PAD_LEFT - 4}" y="{HEIGHT - PAD_BOTTOM}" font-size="11" text-anchor="end">0</text>']
    for row in per_second:
        base = HEIGHT - PAD_BOTTOM
        for outcome in outcomes:
            h = plot_h * row[outcome] / top
            if h:
                body.append(f'<rect class="{outcome}" x="{_x(row["second"], x_max):.1f}" y="{base - h:.1f}" '
                            f'width="{bar_w:.1f}" height="{h:.1f}" fill="{BARS[outcome]}"/>')
                base -= h
    for n, outcome in enumerate(outcomes):
        body.append(f'<text x="{PAD_LEFT + 10 + 70 * n}" y="{LEGEND_Y}" font-size="11" '
                    f'fill="{BARS[outcome]}">{"429" if outcome == "limited" else outcome}</text>')
    return _frame(title, body, x_max, "per second")


def _table(rows: list[list[Any]], head: list[str]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_html(report: dict[str, Any]) -> str:
    operations: dict[str, dict[str, Any]] = report["operations"]
    head = ["operation", "count", "ok", "rejected", "429", "errors", "per s", "p50 ms", "p90 ms", "p99 ms",
            "p99.9 ms", "max ms"]
    rows = [[name, op["count"], op["ok"], op["rejected"], op["limited"], op["error"], op["achieved_per_s"],
             *(op["latency_ms"][k] for k in ("p50", "p90", "p99", "p99.9", "max"))] for name, op in operations.items()]
    run = [["scenario", report["scenario"]], ["target", report["target"]], ["started", report["started_at"]],
           ["offered rate /s", report["offered_rate_per_s"]], ["send rate /s", report["send_rate_per_s"]],
           ["achieved rate /s (answered)", report["achieved_rate_per_s"]], ["sent", report["sent"]],
           ["ok", report["ok_total"]], ["rejected", report["rejected_total"]], ["429", report["limited_total"]],
           ["errors", report["error_total"]], ["elapsed s", report["elapsed_s"]],
           ["machine", f"{report['machine']['cpus']} cores, Python {report['machine']['python']}"]]
    sections = []
    for name, op in operations.items():
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(op["codes"].items())) or "none"
        sections.append(
            f"<section><h2>{escape(name)}</h2><p>Latency from {escape(report['latency_from'])}. Codes: {escape(codes)}</p>"
            + latency_chart(f"{name}: latency percentiles per second", op["per_second"])
            + count_chart(f"{name}: throughput per second", op["per_second"], ("ok", "rejected", "limited", "error"))
            + count_chart(f"{name}: errors and 429 per second", op["per_second"], ("limited", "error"))
            + "</section>")
    figures = _table([[k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v]
                      for k, v in report["scenario_figures"].items()], ["figure", "value"])
    options = _table([[k, v] for k, v in report["options"].items()], ["option", "value"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Load report: {escape(report['scenario'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:{WIDTH + 300}px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}svg.chart{{display:block;margin:1em 0}}</style></head>
<body><h1>Load report: {escape(report['scenario'])}</h1>
{_table(run, ["run", ""])}
{_table(rows, head)}
<h2>Scenario figures</h2>{figures}
<h2>Options</h2>{options}
{''.join(sections)}
</body></html>
"""
