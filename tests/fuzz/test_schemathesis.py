"""Schemathesis over the whole OpenAPI document, as every kind of caller: no 5xx, no schema violation.

A real ``harmonystream serve`` (embedded defaults, a data dir of its own) is fuzzed by the real
``schemathesis`` command: examples, coverage, fuzzing and stateful phases, seeded, bounded in examples
(and in time, by a timeout per run), once per role (anonymous, listener, artist, admin). The server's
own request counter (it answers on loopback, so it serves /metrics) tells how many requests it
answered and that none was answered with a status of 500 or more, whatever schemathesis noticed.

Calls that would end the fuzzer's own session are left out (signing out, deleting or disabling the
calling account): everything after them would only test the 401 path.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.processes import cli_env, create_user, serving

SEED = 20261202
EXAMPLES = 25
MIN_REQUESTS = 5000
ROLES = ("anonymous", "listener", "artist", "admin")
PASSWORD = "fuzzing-password-1"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
LEFT_OUT = ("/api/v1/auth/logout", "/api/v1/auth/session")


def _env(data_dir: Path) -> dict[str, str]:
    return cli_env(
        data_dir,
        HS_ACCESS_TOKEN_TTL="7200",
        HS_LOG_LEVEL="warning",
        # Console scans stay inside an empty library folder (a scan of "/" would read the whole disk).
        HS_LIBRARY_FOLDERS=str(data_dir.parent / "library"),
        # The fuzzer is one client sending thousands of requests: limits would answer most with 429.
        HS_RATE_API_PER_CLIENT="1000000/60",
        HS_RATE_LOGIN_PER_IP="1000000/60",
        HS_RATE_LOGIN_PER_USERNAME="1000000/60",
        HS_RATE_REGISTER_PER_IP="1000000/60",
    )


async def _token(session: aiohttp.ClientSession, base: str, username: str) -> str:
    async with session.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["access_token"]


def _failures(output: str) -> str:
    """The FAILURES section of schemathesis' report (the part worth reading), else its last lines."""
    start = output.find("FAILURES")
    return output[start : start + 8000] if start >= 0 else output[-3000:]


def _answered(metrics: str) -> tuple[int, int]:
    """(requests answered, of them with a status >= 500) from the Prometheus text."""
    total = errors = 0
    for match in re.finditer(
        r'^hs_http_requests_total\{[^}]*status="(\d+)"[^}]*\} ([0-9.e+]+)$', metrics, re.M
    ):
        count = int(float(match.group(2)))
        total += count
        if int(match.group(1)) >= 500:
            errors += count
    return total, errors


@pytest.mark.timeout(900)
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    env = _env(tmp_path / "data")
    (tmp_path / "library").mkdir()
    for role in ("listener", "artist", "admin"):
        await create_user(env, f"fuzz-{role}", PASSWORD, role)
    outputs: dict[str, str] = {}
    async with serving(env, ready_path="/readyz") as (base, _):
        async with aiohttp.ClientSession() as session:
            tokens = {role: await _token(session, base, f"fuzz-{role}") for role in ROLES[1:]}
        for role in ROLES:
            argv = [
                str(SCHEMATHESIS),
                "run",
                f"{base}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance,content_type_conformance",
                "--seed",
                str(SEED),
                "--max-examples",
                str(EXAMPLES),
                # One worker: with two, schemathesis parses lambdas in two threads at once, which trips
                # CPython 3.11.7's "AST constructor recursion depth mismatch" (gh-106905).
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--no-color",
                "--warnings",
                "off",
            ]
            for path in LEFT_OUT:
                argv += ["--exclude-path", path]
            if role != "anonymous":
                argv += ["--header", f"Authorization: Bearer {tokens[role]}"]
            if role == "admin":
                # The admin could otherwise disable or delete itself by a lucky id.
                argv += ["--exclude-path-regex", r"^/api/v1/users/\{id\}$", "--exclude-method", "DELETE"]
            done = await asyncio.to_thread(
                subprocess.run, argv, env=env, capture_output=True, text=True, timeout=600
            )
            (tmp_path / f"schemathesis-{role}.txt").write_text(done.stdout + done.stderr)
            outputs[role] = _failures(done.stdout) + done.stderr[-2000:]
            assert done.returncode == 0, f"schemathesis as {role}:\n{outputs[role]}"
        async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as resp:
            answered, server_errors = _answered(await resp.text())
    print(f"schemathesis: {answered} requests answered, {server_errors} with a status >= 500")
    assert server_errors == 0
    assert answered >= MIN_REQUESTS, (answered, outputs)
