"""Real-time push benchmark: many connected devices, REST commands, time until the other device hears.

    .venv/bin/python bench/realtime.py [--clients 1000] [--users 100] [--rate 10] [--duration 60] [--redis]

Starts ``harmonystream serve`` on loopback in a temporary data dir (embedded store; with ``--redis`` a
private redis-server and Socket.IO's Redis manager, as in a multi-process deployment), registers
``--users`` users, connects ``--clients`` python-socketio clients spread evenly over them as devices,
then sends ``--rate`` REST playback commands per second for ``--duration`` seconds, round-robin over
the users (play, seek, pause, resume). For each command it measures the time from sending the REST
request to the arrival of the matching ``playback`` event at another device of that user (matched by
``updated_at``). Also reports the server's RSS per connection: (RSS with every client connected - RSS
before connecting) / clients. Everything stays on 127.0.0.1 and is bounded by the flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalog.store import TrackStore  # noqa: E402
from server.handles import open_database  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.services import private_redis  # noqa: E402

PASSWORD = "benchmark password"


@dataclass
class User:
    name: str
    token: str = ""
    # updated_at of each playback event seen by the watching device → arrival time (perf_counter).
    seen: dict[str, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def _maybe_redis(enabled: bool) -> Iterator[str]:
    if not enabled:
        yield ""
        return
    with private_redis() as url:
        yield url


async def _start_server(data_dir: Path, port: int, redis_url: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "HS_LOG_LEVEL": "warning",
        "HS_REDIS_URL": redis_url,
        "HS_SECRET_KEY": uuid.uuid4().hex * 2,
        # The benchmark registers and signs in many users from one address.
        "HS_RATE_REGISTER_PER_IP": "100000/60",
        "HS_RATE_LOGIN_PER_IP": "100000/60",
        "HS_RATE_API_PER_CLIENT": "100000/60",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return proc
            await asyncio.sleep(0.05)
    proc.terminate()
    raise RuntimeError("the server did not start")


async def _sign_up(http: aiohttp.ClientSession, base: str, user: User) -> None:
    body = {"username": user.name, "email": f"{user.name}@example.com", "password": PASSWORD}
    async with http.post(f"{base}/api/v1/auth/register", json=body) as resp:
        assert resp.status == 201, await resp.text()
    async with http.post(
        f"{base}/api/v1/auth/login", json={"username": user.name, "password": PASSWORD}
    ) as resp:
        assert resp.status == 200, await resp.text()
        user.token = (await resp.json())["access_token"]


async def _add_track(data_dir: Path) -> str:
    """A ready track, written straight into the embedded store the server reads (safe across processes)."""
    async with open_database(Settings(data_dir=data_dir)) as db:
        track = await TrackStore(db).insert(
            {"title": "Bench", "artist_id": "a", "owner_id": "o", "status": "ready", "duration_ms": 240_000}
        )
    return track["_id"]


async def _connect(base: str, user: User, device: int, http: aiohttp.ClientSession, watch: bool) -> Any:
    client = socketio.AsyncClient(reconnection=False, http_session=http)
    if watch:

        async def on_playback(state: dict[str, Any]) -> None:
            if state.get("updated_at"):
                user.seen[state["updated_at"]] = time.perf_counter()
                user.arrived.set()

        client.on("playback", on_playback)
    await client.connect(
        base, auth={"token": user.token, "device_id": f"d{device}"}, transports=["websocket"], wait_timeout=20
    )
    return client


async def _command(
    http: aiohttp.ClientSession,
    base: str,
    user: User,
    action: str,
    track_id: str,
    results: list[float],
    answers: list[float],
) -> None:
    body: dict[str, Any] | None = None
    if action == "play":
        body = {"track_id": track_id, "device_id": "d0"}
    elif action == "seek":
        body = {"position_ms": 60_000}
    headers = {"Authorization": f"Bearer {user.token}"}
    started = time.perf_counter()
    async with http.post(f"{base}/api/v1/playback/{action}", json=body, headers=headers) as resp:
        if resp.status != 200:
            results.append(float("nan"))
            return
        updated_at = (await resp.json())["updated_at"]
    answers.append((time.perf_counter() - started) * 1000)
    deadline = started + 5.0
    while updated_at not in user.seen:
        user.arrived.clear()
        timeout = deadline - time.perf_counter()
        if timeout <= 0:
            results.append(float("nan"))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(user.arrived.wait(), timeout)
    results.append((user.seen.pop(updated_at) - started) * 1000)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hs-bench-rt-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with _maybe_redis(args.redis) as redis_url:
        proc = await _start_server(data_dir, port, redis_url)
        clients: list[Any] = []
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                users = [User(f"bench{i}_{uuid.uuid4().hex[:6]}") for i in range(args.users)]
                sem = asyncio.Semaphore(8)

                async def sign_up(user: User) -> None:
                    async with sem:
                        await _sign_up(http, base, user)

                await asyncio.gather(*(sign_up(u) for u in users))
                track_id = await _add_track(data_dir)
                # Every user plays once, so each has a state, and the server has warmed up its paths.
                for user in users:
                    headers = {"Authorization": f"Bearer {user.token}"}
                    async with http.post(
                        f"{base}/api/v1/playback/play", json={"track_id": track_id}, headers=headers
                    ) as resp:
                        assert resp.status == 200, await resp.text()
                await asyncio.sleep(1.0)
                rss_before = _rss_kib(proc.pid)

                per_user = args.clients // args.users
                plan = [(u, d) for u in users for d in range(per_user)]
                connect_sem = asyncio.Semaphore(50)

                async def connect(user: User, device: int) -> None:
                    async with connect_sem:
                        # d0 is the controller; d1 is the "other device" that is timed.
                        clients.append(await _connect(base, user, device, http, watch=device == 1))

                started = time.perf_counter()
                await asyncio.gather(*(connect(u, d) for u, d in plan))
                connect_s = time.perf_counter() - started
                await asyncio.sleep(2.0)
                rss_after = _rss_kib(proc.pid)
                for user in users:
                    user.seen.clear()

                results: list[float] = []
                answers: list[float] = []
                tasks: list[asyncio.Task[None]] = []
                actions = itertools.cycle(["play", "seek", "pause", "resume"])
                order = itertools.cycle(users)
                total = int(args.rate * args.duration)
                t0 = time.perf_counter()
                action = next(actions)
                for i in range(total):
                    # Open loop: commands go out on schedule whether or not earlier ones were answered.
                    await asyncio.sleep(max(0.0, t0 + i / args.rate - time.perf_counter()))
                    user = next(order)
                    if i and i % len(users) == 0:
                        action = next(actions)
                    tasks.append(
                        asyncio.create_task(_command(http, base, user, action, track_id, results, answers))
                    )
                await asyncio.gather(*tasks)
                rss_end = _rss_kib(proc.pid)
                for client in clients:
                    with contextlib.suppress(Exception):
                        await client.disconnect()
        finally:
            proc.terminate()
            await proc.wait()
            shutil.rmtree(data_dir, ignore_errors=True)

    ok = [r for r in results if r == r]
    lost = len(results) - len(ok)
    mode = "Redis manager (real redis-server)" if args.redis else "embedded (in-process manager)"
    print(f"mode: {mode}")
    print(f"clients connected: {len(clients)} ({args.users} users x {args.clients // args.users} devices)")
    print(f"connect time: {connect_s:.1f} s")
    print(f"commands: {len(results)} at {args.rate}/s for {args.duration} s; events missing: {lost}")
    if ok:
        print(
            f"REST command -> other device's event: p50 {statistics.median(ok):.1f} ms, "
            f"p99 {_percentile(ok, 99):.1f} ms, max {max(ok):.1f} ms"
        )
    if answers:
        p50, p99 = statistics.median(answers), _percentile(answers, 99)
        print(f"REST answer alone: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    delta = rss_after - rss_before
    print(
        f"server RSS: {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB with clients, "
        f"{rss_end / 1024:.1f} MiB at the end; {delta / max(1, len(clients)):.1f} KiB per connection"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="REST commands per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of commands")
    parser.add_argument("--redis", action="store_true", help="run with a private redis-server")
    args = parser.parse_args()
    if args.clients < 2 * args.users:
        parser.error("need at least two devices per user")
    if args.clients > 5000 or args.duration > 600 or args.rate > 200:
        parser.error("bounded: at most 5000 clients, 600 s and 200 commands/s")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
