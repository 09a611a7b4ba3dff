"""Scenario: one hot lot in a bidding war (see exchange.bench.hotlot for the method).

    python -m loadtests.hotlot [seconds per phase]    # or: exchange bench hotlot --json

Prints one JSON object; the DESIGN.md targets are checked and reported, never asserted.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from exchange.bench.hotlot import run_hotlot_bench

TARGET_SPEEDUP = 3.0
TARGET_ACK_P99_MS = 10.0


def run(seconds: float = 8.0) -> dict[str, Any]:
    result = run_hotlot_bench(seconds=seconds)
    result["meets_speedup_target"] = result["speedup"] >= TARGET_SPEEDUP
    result["meets_ack_p99_target"] = result["ack_p99_ms_at_half_peak"] <= TARGET_ACK_P99_MS
    return result


if __name__ == "__main__":
    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0)))
