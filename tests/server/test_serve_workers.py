"""``harmonystream serve --workers N``: N processes on one port, a dead one replaced, all stopped together.

Which processes listen is read from the kernel (``/proc``), not from anything the server says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import aiohttp

from tests.processes import cli, cli_env, create_user, wait_answering
from tests.services import free_port


def children_of(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # Field 4 is the parent pid; the command name (field 2) may hold spaces, so split after it.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry))
    return out


def listening_pids(port: int) -> set[int]:
    """Pids of the processes holding a listening TCP socket on ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pids.add(int(entry))
        except OSError:
            continue
    return pids


async def until(check, what: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def fresh_connection_get(base: str, path: str, headers: dict[str, str]) -> int:
    # A new connection each time: the kernel picks the process per connection.
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(base + path, headers=headers) as r,
    ):
        return r.status


def _group_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """A group needs a shared Redis: the tests' own, under a prefix of this test's."""
    return cli_env(
        tmp_path / "data",
        HS_REDIS_URL=redis_url,
        HS_REDIS_PREFIX=f"hstest:{uuid.uuid4().hex[:12]}:",
        HS_SECRET_KEY="workers-" + uuid.uuid4().hex,
    )


async def test_workers_share_a_port_and_a_killed_one_is_replaced(tmp_path, redis_url):
    env = _group_env(tmp_path, redis_url)
    await create_user(env, "wanda", "correct-horse-9", "listener")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", "2",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await until(lambda: len(listening_pids(port)) == 2, "two listening processes")
        first = children_of(proc.pid)
        assert listening_pids(port) == first and len(first) == 2 and proc.pid not in first
        async with aiohttp.ClientSession() as session:
            await wait_answering(session, base, proc)
            async with session.post(
                base + "/api/v1/auth/login", json={"username": "wanda", "password": "correct-horse-9"}
            ) as resp:
                assert resp.status == 200
                token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # A sign-in made through one process holds in both.
        statuses = [await fresh_connection_get(base, "/api/v1/me", headers) for _ in range(20)]
        assert statuses == [200] * 20

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        await until(lambda: victim not in listening_pids(port), "the killed process to let go of the port")
        statuses = [await fresh_connection_get(base, "/api/v1/me", headers) for _ in range(20)]
        assert statuses == [200] * 20  # the survivor serves on
        await until(lambda: len(listening_pids(port)) == 2, "a replacement process")
        second = children_of(proc.pid)
        assert victim not in second and len(second - first) == 1
        async with aiohttp.ClientSession() as session:
            await wait_answering(session, base, proc)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
    assert code == 0
    await until(lambda: not listening_pids(port), "every process to stop")


async def test_more_than_one_process_needs_redis(tmp_path):
    done = await asyncio.to_thread(
        cli, "serve", "--port", "0", "--workers", "2", env=cli_env(tmp_path / "data")
    )
    assert done.returncode != 0 and "HS_REDIS_URL" in done.stderr


async def test_the_address_is_printed_once_it_answers(tmp_path, redis_url):
    """The parent says where it serves only once a child accepts connections, like a single process."""
    env = _group_env(tmp_path, redis_url)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", "2",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode()
        assert line.startswith("HarmonyStream on http://") and f":{port}/ (2 processes)" in line
        # Nothing waited for in between: the address answers as it is printed.
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            assert resp.status == 200
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
