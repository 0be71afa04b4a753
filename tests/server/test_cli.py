"""The command line as a newcomer uses it: embedded defaults, create-user, a restart keeps users."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.services import free_port


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HS_")}
    env["HS_DATA_DIR"] = str(data_dir)
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def _wait_healthy(session: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.returncode is None, "server exited"
        try:
            async with session.get(f"{base}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("server did not become healthy")


async def test_serve_on_embedded_defaults_keeps_users_across_restart(tmp_path):
    env = _env(tmp_path / "data")
    created = _cli("create-user", "admin1", "--password", "admin-password", "--role", "admin", env=env)
    assert created.returncode == 0, created.stderr
    assert "created admin admin1" in created.stdout
    again = _cli("create-user", "admin1", "--password", "admin-password", env=env)
    assert again.returncode != 0 and "already taken" in again.stderr
    assert _cli("migrate", env=env).stdout.strip() == "nothing to apply"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # the second round is the restart
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                str(port),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                await _wait_healthy(session, base, proc)
                async with session.get(f"{base}/readyz") as resp:
                    assert resp.status == 200, await resp.text()
                async with session.post(
                    f"{base}/api/v1/auth/login", json={"username": "admin1", "password": "admin-password"}
                ) as resp:
                    assert resp.status == 200
                    body = await resp.json()
                    assert body["user"]["roles"] == ["admin"]
            finally:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), timeout=20)
    assert (tmp_path / "data" / "secret_key").exists()


def test_worker_without_urls_explains_itself(tmp_path):
    result = _cli("worker", env=_env(tmp_path / "data"))
    assert result.returncode != 0 and "HS_REDIS_URL" in result.stderr
