"""The OpenAPI document fuzzed with Schemathesis against `exchange run` on the demo data: as an
operator, an investor, an institution and anonymously, every operation gets generated valid and
invalid input (its coverage, fuzzing and stateful phases, a fixed seed), and no answer may be a
server error or a refusal that is not problem-details JSON. The same run against `make run`:
README, "Reliability"."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.integration.processes import exchange_processes, until

pytestmark = pytest.mark.timeout(900)

ROLES = {"operator": ("operator@exchange.demo", "operator-pass-2026"),
         "investor": ("investor@capital.demo", "demo-pass-2026"),
         "institution": ("tto@beichen.demo", "demo-pass-2026"),
         "anonymous": None}
# Revoking the token the run authenticates with, or logging out, would leave the rest of the run
# anonymous; those operations are fuzzed anonymously.
AUTHENTICATED_EXCLUDES = ["--exclude-path-regex", r"^/api/tokens/\{", "--exclude-path", "/api/session"]


async def _token(http: httpx.AsyncClient, email: str, password: str) -> str:
    answer = await http.post("/api/tokens", json={"email": email, "password": password, "name": "fuzz"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


async def _fuzz(url: str, role: str, token: str | None, report: Path, project_root: Path) -> tuple[int, str]:
    st = Path(sys.executable).parent / "st"
    args = [str(st), "run", f"{url}/schema/openapi.json", "--checks", "not_a_server_error,problem_details_on_errors",
            "--max-examples", "10", "--seed", "20261202", "--workers", "2", "--no-color",
            "--report", "junit", "--report-junit-path", str(report / f"{role}.xml")]
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}", *AUTHENTICATED_EXCLUDES]
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.fuzz.checks", "PYTHONPATH": str(project_root)}
    process = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT, cwd=report)  # its cache there
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode(errors="replace")


async def test_no_generated_request_gets_a_server_error_or_a_refusal_without_problem_details(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path, project_root: Path,
) -> None:
    settings = {"EXCHANGE_LOAD_DEMO": "1", "EXCHANGE_LOGIN_PER_ADDRESS": "100000"}
    async with exchange_processes(pg_server, redis_server, tmp_path, web=2, feed=1, settings=settings) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        await until(lambda: "demo auction" in running.log.read_text(), 120, "the demo is loaded")
        tokens = {role: await _token(http, *login) if login else None for role, login in ROLES.items()}
        for role, token in tokens.items():
            code, out = await _fuzz(running.url, role, token, tmp_path, project_root)
            summary = out[out.find("SUMMARY"):] if "SUMMARY" in out else out[-3000:]
            assert code == 0, f"as {role}:\n{out[-12000:]}"
            assert " passed" in summary and "Tested: " in summary, summary
        log = running.log.read_text()
    assert "Traceback" not in log, log[log.find("Traceback") - 2000:][:6000]
