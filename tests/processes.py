"""The command line as separate processes, for tests that run ``harmonystream`` the way a user does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.services import free_port


def cli_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without any ``HS_*`` of its own, plus the data dir and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HS_")}
    env["HS_DATA_DIR"] = str(data_dir)
    env["HS_MIN_FREE_MB"] = "1"  # uploads must not depend on how full the machine's disk is
    env.update(settings)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``harmonystream ARGS`` run to its end. Blocking."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def create_user(env: dict[str, str], username: str, password: str, role: str) -> None:
    done = await asyncio.to_thread(
        cli, "create-user", username, "--password", password, "--role", role, env=env
    )
    assert done.returncode == 0, done.stderr


async def wait_answering(
    session: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process, path: str = "/healthz"
) -> None:
    """Until ``path`` answers 200 (30 s at most), the process still running."""
    for _ in range(300):
        assert proc.returncode is None, "server exited"
        try:
            async with session.get(base + path) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"server did not answer {path}")


async def start_serve(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
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


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)


@asynccontextmanager
async def serving(
    env: dict[str, str], *, ready_path: str = "/healthz"
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``harmonystream serve`` on a free loopback port until the block ends: (base URL, process)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_serve(env, port)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_answering(session, base, proc, ready_path)
        yield base, proc
    finally:
        await stop(proc)
