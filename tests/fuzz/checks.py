"""Schemathesis checks of the exchange's own promises, loaded with SCHEMATHESIS_HOOKS=tests.fuzz.checks."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def problem_details_on_errors(ctx: Any, response: Any, case: Any) -> None:
    """Every refusal of the JSON API is problem-details JSON, whatever was sent."""
    if response.status_code >= 400 and case.path.startswith("/api/"):
        found = response.headers.get("content-type", [""])
        found = found[0] if isinstance(found, list) else found
        if not found.startswith("application/problem+json"):
            raise AssertionError(f"{response.status_code} answered with {found!r}, not application/problem+json")
