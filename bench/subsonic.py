"""Subsonic library sync at 100,000 tracks: an empty ``search3`` paged through the whole catalog.

    .venv/bin/python bench/subsonic.py [--tracks 100000] [--page 500] [--rounds 2] [--data-dir DIR]

How Symfonium and other apps sync a library: ``search3`` with an empty query, ``songCount`` per page,
``songOffset`` moving on until a short page. Setup: a corpus of artists, albums and tracks generated
by bench/library.py's generator in an embedded store (a temporary directory unless ``--data-dir`` is
given, which keeps it for the next run); one listener with an app password; ``harmonystream serve``
started on it as in production. Each round pages through every track once (JSON, token sign-in as apps
do it), one request at a time on one keep-alive connection, then does the same for albums and
artists; the time of each request, first byte to last, is kept. One request before the rounds waits
for the search index, which ``serve`` builds in the background at start; its time is printed on its
own. The reference in the same run: a private nginx (1 worker) serving one of those pages as a static
file, the same number of times, over the same kind of connection — the cost of moving the bytes
alone. Goal: p95 ≤ 50 ms per track page. Prints a Markdown block for docs/PERFORMANCE.md. Loopback
only; bounded by the page count.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.library import create_user, generate, pct
from bench.serve import start_server, wait_ready
from migrations import apply_pending
from server.catalog.store import TrackStore
from server.handles import open_database
from server.settings import Settings
from tests.delivery.nginx import private_nginx, wait_for_port
from tests.services import free_port

GOAL_MS = 50.0
PASSWORD = "bench-password-1"


async def make_corpus(data_dir: Path, tracks: int) -> None:
    settings = Settings(data_dir=data_dir, secret_key="bench")
    async with open_database(settings) as db:
        await apply_pending(db)
        if await db["tracks"].count_documents({}) == 0:
            await generate(
                random.Random(42), db, TrackStore(db), tracks, max(tracks // 30, 10), max(tracks // 10, 10)
            )
        else:
            print(f"reusing the corpus in {data_dir}")
        # The generated unfinished tracks have no original to transcode: as "processing", the in-process
        # transcoder would fail them one by one during the run, which is no part of this measurement.
        await db["tracks"].update_many({"status": "processing"}, {"$set": {"status": "failed"}})


async def app_password(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        ) as r:
            assert r.status == 200, await r.text()
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(
            f"{base}/api/v1/me/app-passwords", json={"name": "bench"}, headers=headers
        ) as r:
            assert r.status == 201, await r.text()
            return await r.json()


async def page_through(
    base: str, auth: dict[str, str], kind: str, page: int
) -> tuple[list[float], int, bytes]:
    """Every ``kind`` of the library, ``page`` at a time: request times (ms), items seen, one body."""
    times: list[float] = []
    seen, offset, sample = 0, 0, b""
    counts = {"artistCount": "0", "albumCount": "0", "songCount": "0"}
    async with aiohttp.ClientSession() as session:
        while True:
            params = {**auth, **counts, f"{kind}Count": str(page), f"{kind}Offset": str(offset), "query": ""}
            started = time.perf_counter()
            async with session.get(f"{base}/rest/search3", params=params) as resp:
                body = await resp.read()
            times.append((time.perf_counter() - started) * 1000)
            assert resp.status == 200 and b'"status":"ok"' in body, body[:300]
            found = body.count(b'"id"')
            seen += found
            sample = sample or body
            offset += page
            if found < page:
                return times, seen, sample


async def fetch_times(url: str, count: int) -> list[float]:
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
            times.append((time.perf_counter() - started) * 1000)
            assert resp.status == 200
    return times


def row(name: str, times: list[float], note: str = "") -> str:
    figures = f"{statistics.median(times):.1f} | {pct(times, 95):.1f} | {max(times):.1f}"
    return f"| {name} | {len(times)} | {figures} | {note} |"


async def main(tracks: int, page: int, rounds: int, data_dir: Path) -> None:
    await make_corpus(data_dir, tracks)
    await create_user(data_dir, PASSWORD)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(data_dir, port, data_dir / "server.log")
    try:
        started = time.perf_counter()
        wait_ready(f"{base}/readyz", timeout=600)
        ready_s = time.perf_counter() - started
        secret = (await app_password(base))["password"]
        salt = "b3nch"
        auth = {
            "u": "bench", "s": salt, "t": hashlib.md5((secret + salt).encode()).hexdigest(),
            "v": "1.16.1", "c": "bench", "f": "json",
        }  # fmt: skip
        # The first request waits for the search index, which ``serve`` builds in the background.
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{base}/rest/search3", params={**auth, "query": "", "songCount": "1"}) as r,
        ):
            assert r.status == 200, await r.text()
        first_s = time.perf_counter() - started
        song_times: list[float] = []
        other: dict[str, list[float]] = {"album": [], "artist": []}
        seen: dict[str, int] = {}
        sample = b""
        for _ in range(rounds):
            times, seen["song"], sample = await page_through(base, auth, "song", page)
            song_times += times
            for kind in other:
                times, seen[kind], _ = await page_through(base, auth, kind, page)
                other[kind] += times
        static = data_dir / "static"
        static.mkdir(exist_ok=True)
        (static / "page.json").write_bytes(sample)
        nginx_port = free_port()
        conf = f"server {{ listen 127.0.0.1:{nginx_port}; root {static}; }}\n"
        with private_nginx(conf):
            wait_for_port(nginx_port)
            nginx_times = await fetch_times(f"http://127.0.0.1:{nginx_port}/page.json", len(song_times))
    finally:
        server.terminate()
        server.wait(timeout=30)
    met = "met" if pct(song_times, 95) <= GOAL_MS else "NOT met"
    print()
    print(
        f"- corpus: {tracks:,} tracks (embedded store, SQLite); /readyz answered {ready_s:.1f} s after start"
    )
    print(f"- first request after start (waits for the search index build): {first_s:.1f} s")
    print(f"- {rounds} round(s) through the whole library, {page} items per page, JSON, token sign-in")
    print(f"- one page of {page} songs is {len(sample) / 1024:.0f} KiB")
    print()
    print("| requests | n | p50 ms | p95 ms | max ms | |")
    print("|---|---|---|---|---|---|")
    print(
        row(
            f"search3 songs ({seen['song']:,} seen per round)",
            song_times,
            f"goal p95 ≤ {GOAL_MS:.0f} ms: {met}",
        )
    )
    print(row(f"search3 albums ({seen['album']:,})", other["album"]))
    print(row(f"search3 artists ({seen['artist']:,})", other["artist"]))
    print(row("reference: nginx, one song page as a static file", nginx_times))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="hs-bench-subsonic-"))
    try:
        asyncio.run(main(args.tracks, args.page, args.rounds, folder))
    finally:
        if args.data_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
