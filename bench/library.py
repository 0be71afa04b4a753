"""A big library on one machine: search and catalog pages over HTTP, start-up, memory, scans.

    .venv/bin/python bench/library.py [--tracks 1000000] [--queries 300] [--data-dir DIR] [--workers]
                                      [--scan-files 100000]

Generates (once: with ``--data-dir`` the corpus and its library index are kept for the next run) a
synthetic catalog in the embedded store: ``--tracks`` tracks, with 35 artists and 100 albums per
1,000 tracks (35,000 and 100,000 at a million), pseudo-word titles with accents, ten genres, years
and a long-tailed play count. Then, against ``harmonystream serve`` started on it as in production:

1. the first start, which builds the library index (``data_dir/search``) from the store, timed until
   a search answers (skipped when the index is already there);
2. a second start with the index in place, timed from the process start until a search answers;
3. as-you-type searches (each word typed letter by letter, ~30 % of words with two letters swapped),
   one request at a time on one keep-alive connection, listener token; the time of each whole HTTP
   call, first byte sent to last byte read;
4. catalog pages, one request at a time as in 3: the first page (50 items) of tracks, albums and
   artists in every public sort order, both directions; a deep page of each (the page after a
   random item, by cursor: ``next_cursor`` names the last item of a page); album views
   (``/albums/{id}``, the album with its tracks) and an artist's tracks by title;
5. the resident memory (RSS) and proportional set size (PSS: shared pages divided among the
   processes mapping them) of the server at idle after the queries;
6. with ``--workers``: the same for ``serve --workers 2`` (with the local Redis at 127.0.0.1:6379,
   keys under a private prefix), summed over its processes;
7. with ``--scan-files N``: ``bench/scan.py`` on a folder of N small real MP3s (kept beside the data
   dir): first scan and no-op rescan rates, and the scan's peak RSS.

The reference in the same run: a private nginx (1 worker) serving one search answer as a static file,
the same number of times over the same kind of connection: the cost of moving the bytes alone.
Prints a Markdown block for docs/PERFORMANCE.md. Loopback only; bounded by the query count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scan import make_library
from bench.scan import measure as scan_measure
from bench.serve import SECRET, wait_ready
from migrations import apply_pending
from server.catalog.album_store import SORTS as ALBUM_SORTS
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import SORTS as ARTIST_SORTS
from server.catalog.artist_store import ArtistStore
from server.catalog.paging import PageCursor
from server.catalog.store import SORTS as TRACK_SORTS
from server.catalog.store import TrackStore
from server.documents import utcnow
from server.handles import open_database
from server.search.library import LibraryIndex
from server.search.rows import Kind
from server.search.text import words
from server.settings import Settings
from tests.delivery.nginx import private_nginx, wait_for_port
from tests.services import free_port

SYLLABLES = "ka lo mi ra zu ne to bel mor sin da vi que ar el on ste fan gro lu é ñ ö".split(" ")  # noqa: SIM905 - reads better than 23 quoted syllables
GENRES = ["Jazz", "Rock", "Pop", "Electronic", "Hip-Hop", "Classical", "Folk", "Metal", "Soul", "Reggae"]
PASSWORD = "bench-password-1"
GOAL_SEARCH_MS = 30.0
GOAL_READY_S = 30.0
GOAL_RSS_MB = 500.0
GOAL_PAGE_MS = 20.0
SAMPLES = 12  # random items per kind: deep pages start after them; album views and artist pages use them
LISTINGS: dict[str, dict[str, str]] = {"tracks": TRACK_SORTS, "albums": ALBUM_SORTS, "artists": ARTIST_SORTS}
BATCH = 5000


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def phrase(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(word(rng).capitalize() for _ in range(rng.randint(lo, hi)))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def typed(rng: random.Random, names: list[str], count: int) -> list[str]:
    """Queries as a person types them: growing prefixes of one or two words; now and then a typo."""
    out: list[str] = []
    while len(out) < count:
        target = words(rng.choice(names))[:2]
        done = ""
        for w in target:
            for n in range(1, len(w) + 1):
                out.append((done + " " + w[:n]).strip())
            done = (done + " " + w).strip()
        if len(target[0]) >= 5 and rng.random() < 0.3:
            w = target[0]
            i = rng.randrange(1, len(w) - 1)
            out.append(w[:i] + w[i + 1] + w[i] + w[i + 2 :])  # two letters swapped
    return out[:count]


def corpus(
    rng: random.Random, tracks: int, n_artists: int, n_albums: int
) -> Iterator[tuple[Kind, list[dict[str, Any]]]]:
    """The catalog in batches of documents, built by the stores' own document builders."""
    artist_docs = [ArtistStore._new(f"{phrase(rng, 1, 2)} {i}", None, []) for i in range(n_artists)]
    for start in range(0, n_artists, BATCH):
        yield "artist", artist_docs[start : start + BATCH]
    album_docs = [
        AlbumStore._new(
            f"{phrase(rng, 1, 3)} {i}", artist_docs[i % n_artists]["_id"], rng.randint(1950, 2025), []
        )
        for i in range(n_albums)
    ]
    for start in range(0, n_albums, BATCH):
        yield "album", album_docs[start : start + BATCH]
    batch = []
    for i in range(tracks):
        album = album_docs[i % n_albums]
        batch.append(
            TrackStore.new_document(
                {
                    "title": phrase(rng, 1, 4), "artist_id": album["artist_id"], "album_id": album["_id"],
                    "genre": rng.choice(GENRES), "release_year": album["release_year"],
                    "track_no": i // n_albums + 1,
                    # Finished or failed: the in-process transcoder has no original to work on here.
                    "status": "ready" if rng.random() < 0.97 else "failed",
                    "error": None, "play_count": int(rng.paretovariate(1.2)),
                    "duration_ms": rng.randint(90_000, 420_000),
                }
            )
        )  # fmt: skip
        if len(batch) == BATCH or i == tracks - 1:
            yield "track", batch
            batch = []


async def generate(
    rng: random.Random, db: Any, track_store: TrackStore, tracks: int, n_artists: int, n_albums: int
) -> None:
    """The catalog, written to the store in batches."""
    started = time.perf_counter()
    done = 0
    for kind, docs in corpus(rng, tracks, n_artists, n_albums):
        if kind == "track":
            await track_store.insert_many(docs)
            done += len(docs)
            if done % 100_000 < BATCH:
                print(f"  {done:,} tracks, {time.perf_counter() - started:.0f} s", flush=True)
        else:
            await db[f"{kind}s"].insert_many(docs)
    took = time.perf_counter() - started
    print(f"generated {n_artists:,} artists, {n_albums:,} albums, {tracks:,} tracks in {took:.0f} s")


def index_only(data_dir: Path, tracks: int) -> None:
    """The catalog written straight into the library index, the store left without it (``--index-only``)."""
    started = time.perf_counter()
    index = LibraryIndex(data_dir / "search")
    n_artists, n_albums = sizes(tracks)
    done = 0
    for kind, docs in corpus(random.Random(42), tracks, n_artists, n_albums):
        index.build_step(kind, docs)
        done += len(docs)
        if done % 100_000 < BATCH:
            index.table.commit()
            print(f"  {done:,} documents, {time.perf_counter() - started:.0f} s", flush=True)
    index.finish_build()
    now = utcnow().isoformat()
    marks = {kind: now for kind in ("artist", "album", "track")}
    index.commit({"watermarks": marks, "settled": marks, "deleted_mark": now, "built": True})
    index.close()
    took = time.perf_counter() - started
    print(f"indexed {n_artists:,} artists, {n_albums:,} albums, {tracks:,} tracks in {took:.0f} s")


def sizes(tracks: int) -> tuple[int, int]:
    """Artists and albums for a number of tracks: 35 and 100 per 1,000."""
    return max(tracks * 35 // 1000, 10), max(tracks // 10, 10)


async def make_corpus(
    data_dir: Path, tracks: int, only_index: bool
) -> tuple[list[str], dict[str, list[Any]]]:
    """The corpus (generated unless already there), names to type queries from, and random items of
    each kind (none with ``--index-only``: the store does not hold the corpus then)."""
    settings = Settings(data_dir=data_dir, secret_key="bench")
    async with open_database(settings) as db:
        await apply_pending(db)
        if only_index:
            if not (data_dir / "search" / "version").exists():
                index_only(data_dir, tracks)
            else:
                print(f"reusing the library index in {data_dir}")
        elif await db["tracks"].count_documents({}) == 0:
            await generate(random.Random(42), db, TrackStore(db), tracks, *sizes(tracks))
        else:
            print(f"reusing the corpus in {data_dir}")
    if only_index:
        with closing(sqlite3.connect(data_dir / "search" / "library.sqlite3")) as db:
            names = [
                title
                for kind, n in (("artist", 3000), ("album", 3000), ("track", 5000))
                for (title,) in db.execute(
                    "SELECT title FROM rows WHERE kind = ? ORDER BY random() LIMIT ?", (kind, n)
                )
            ]
    picked: dict[str, list[Any]] = {}
    if not only_index:
        async with open_database(settings) as db:
            names = [d["name"] for d in await db["artists"].find({}, {"name": 1}).limit(3000).to_list(None)]
            names += [d["title"] for d in await db["albums"].find({}, {"title": 1}).limit(3000).to_list(None)]
            names += [d["title"] for d in await db["tracks"].find({}, {"title": 1}).limit(5000).to_list(None)]
            rng = random.Random(3)
            for kind in LISTINGS:
                total = await db[kind].count_documents({})
                picked[kind] = [
                    (await db[kind].find({}).skip(rng.randrange(total)).limit(1).to_list(None))[0]
                    for _ in range(SAMPLES)
                ]
    await create_user(data_dir, PASSWORD)
    return names, picked


async def create_user(data_dir: Path, password: str) -> None:
    """The listener ``bench`` (already there when the corpus is reused)."""
    argv = [sys.executable, "-m", "server", "create-user", "bench", "--password", password]
    await asyncio.to_thread(
        subprocess.run, [*argv, "--data-dir", str(data_dir)], check=False, capture_output=True
    )


def start(data_dir: Path, port: int, workers: int, prefix: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, "HS_DATA_DIR": str(data_dir), "HS_SECRET_KEY": SECRET, "HS_PORT": str(port),
        "HS_LOG_JSON": "true",
        # With --index-only the store does not hold the corpus: no reconcile may run during the bench
        # (it would remove what the store lacks). Catch-ups still run.
        "HS_SEARCH_RECONCILE_SECONDS": "86400",
    }  # fmt: skip
    if workers > 1:
        env |= {"HS_REDIS_URL": "redis://127.0.0.1:6379/0", "HS_REDIS_PREFIX": prefix}
    with (data_dir / "server.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=out, stderr=out, cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip


async def login(base: str) -> dict[str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}) as r,
    ):
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['access_token']}"}


async def until_search_answers(base: str, started: float, within: float) -> float:
    """Seconds from ``started`` until /readyz, sign-in and one search have all answered."""
    await asyncio.to_thread(wait_ready, f"{base}/readyz", within)
    headers = await login(base)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session,
        session.get(f"{base}/api/v1/search", params={"q": "ka"}, headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
    return time.perf_counter() - started


async def timed_gets(
    url: str, params: list[dict[str, str]], headers: dict[str, str]
) -> tuple[list[float], bytes]:
    times: list[float] = []
    body = b""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for p in params:
            t0 = time.perf_counter()
            async with session.get(url, params=p, headers=headers) as r:
                body = await r.read()
                assert r.status == 200, body[:200]
            times.append((time.perf_counter() - t0) * 1000)
    return times, body


async def catalog_pages(
    base: str, headers: dict[str, str], picked: dict[str, list[Any]]
) -> dict[str, list[float]]:
    """Times (ms) of catalog requests by group: first pages, deep pages, album views, artist tracks."""
    groups: dict[str, list[float]] = {}
    for kind, sorts in LISTINGS.items():
        first: list[dict[str, str]] = []
        deep: list[dict[str, str]] = []
        for name, field in sorts.items():
            for sort in (name, f"-{name}"):
                first += [{"sort": sort, "limit": "50"}] * 3
                for item in picked[kind][:3]:
                    cursor = PageCursor(sort, item.get(field), item["_id"]).encode()
                    deep.append({"sort": sort, "limit": "50", "cursor": cursor})
        url = f"{base}/api/v1/{kind}"
        groups[f"{kind}, first page"], _ = await timed_gets(url, first, headers)
        groups[f"{kind}, deep page (cursor)"], _ = await timed_gets(url, deep, headers)
    views: list[float] = []
    for album in picked["albums"]:
        times, _ = await timed_gets(f"{base}/api/v1/albums/{album['_id']}", [{}] * 3, headers)
        views += times
    groups["album view"] = views
    by_artist = [{"artist_id": a["_id"], "sort": "title", "limit": "50"} for a in picked["artists"]] * 3
    groups["an artist's tracks"], _ = await timed_gets(f"{base}/api/v1/tracks", by_artist, headers)
    return groups


def tree(pid: int) -> list[int]:
    out = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += tree(int(child))
    return out


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of ``pid`` and its children."""
    rss = pss = 0.0
    for p in tree(pid):
        for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                kb = float(rest.split()[0]) / 1024
                rss, pss = (rss + kb, pss) if name == "Rss" else (rss, pss + kb)
    return rss, pss


async def measure(
    data_dir: Path, workers: int, queries: list[str], prefix: str, picked: dict[str, list[Any]]
) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    built = (data_dir / "search" / "version").exists()
    out: dict[str, Any] = {}
    if not built:
        started = time.perf_counter()
        server = start(data_dir, port, workers, prefix)
        try:
            out["build_s"] = await until_search_answers(base, started, 3600)
        finally:
            server.terminate()
            server.wait(timeout=60)
    started = time.perf_counter()
    server = start(data_dir, port, workers, prefix)
    try:
        out["ready_s"] = await until_search_answers(base, started, 600)
        headers = await login(base)
        out["times"], sample = await timed_gets(f"{base}/api/v1/search", [{"q": q} for q in queries], headers)
        if picked:
            out["pages"] = await catalog_pages(base, headers, picked)
        await asyncio.sleep(3)
        out["rss_mb"], out["pss_mb"] = memory_mb(server.pid)
        out["sample"] = sample
    finally:
        server.terminate()
        server.wait(timeout=60)
    return out


async def main(
    tracks: int, n_queries: int, data_dir: Path, workers: bool, only_index: bool, scan_files: int
) -> None:
    names, picked = await make_corpus(data_dir, tracks, only_index)
    queries = typed(random.Random(7), names, n_queries)
    one = await measure(data_dir, 1, queries, "", picked)
    two = await measure(data_dir, 2, queries, f"hs-bench-{os.getpid()}:", {}) if workers else None
    static = data_dir / "static"
    static.mkdir(exist_ok=True)
    (static / "answer.json").write_bytes(one["sample"])
    nginx_port = free_port()
    with private_nginx(f"server {{ listen 127.0.0.1:{nginx_port}; root {static}; }}\n"):
        wait_for_port(nginx_port)
        nginx, _ = await timed_gets(f"http://127.0.0.1:{nginx_port}/answer.json", [{}] * len(queries), {})
    times = one["times"]
    artists, albums = sizes(tracks)
    where = "written straight into the library index" if only_index else "embedded store"
    lines = [f"- corpus: {tracks:,} tracks, {artists:,} artists, {albums:,} albums ({where})"]
    if "build_s" in one:
        lines.append(f"- first start, building the library index from the store: {one['build_s']:.1f} s")
    index_mb = sum(f.stat().st_size for f in (data_dir / "search").rglob("*") if f.is_file()) / 1e6
    lines.append(f"- library index on disk (tantivy + SQLite): {index_mb:.0f} MB")
    lines.append(
        f"- start with the index in place, until a search answered: {one['ready_s']:.1f} s"
        f" (goal ≤ {GOAL_READY_S:.0f} s: {_met(one['ready_s'] <= GOAL_READY_S)})"
    )
    lines.append(
        f"- {len(times)} as-you-type searches, whole HTTP call: p50 {pct(times, 50):.1f} ms,"
        f" p95 {pct(times, 95):.1f} ms, max {max(times):.1f} ms"
        f" (goal p95 ≤ {GOAL_SEARCH_MS:.0f} ms: {_met(pct(times, 95) <= GOAL_SEARCH_MS)})"
    )
    lines.append(
        f"  - reference, nginx sending one answer ({len(one['sample']):,} B) as a file:"
        f" p50 {pct(nginx, 50):.2f} ms, p95 {pct(nginx, 95):.2f} ms"
    )
    if "pages" in one:
        every = [t for times in one["pages"].values() for t in times]
        lines.append(
            f"- catalog pages, {len(every)} requests, whole HTTP call: p50 {pct(every, 50):.1f} ms,"
            f" p95 {pct(every, 95):.1f} ms, max {max(every):.1f} ms"
            f" (goal p95 ≤ {GOAL_PAGE_MS:.0f} ms: {_met(pct(every, 95) <= GOAL_PAGE_MS)})"
        )
        for group, times in one["pages"].items():
            lines.append(
                f"  - {group} ({len(times)}): p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms"
            )
    lines.append(
        f"- `serve` at idle after the searches: RSS {one['rss_mb']:.0f} MB, PSS {one['pss_mb']:.0f} MB"
        f" (goal RSS ≤ {GOAL_RSS_MB:.0f} MB: {_met(one['rss_mb'] <= GOAL_RSS_MB)})"
    )
    if two is not None:
        lines.append(
            f"- `serve --workers 2` (parent and two servers): RSS {two['rss_mb']:.0f} MB,"
            f" PSS {two['pss_mb']:.0f} MB = {two['pss_mb'] / one['pss_mb']:.2f} times one process's PSS;"
            f" search p95 {pct(two['times'], 95):.1f} ms; ready after {two['ready_s']:.1f} s"
        )
    if scan_files:
        music = data_dir.parent / f"{data_dir.name}-music-{scan_files}"
        make_library(music, scan_files)
        lines += scan_measure(music, scan_files)
    print()
    print("\n".join(lines))


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--workers", action="store_true", help="also measure serve --workers 2")
    parser.add_argument(
        "--index-only", action="store_true", help="write the corpus into the library index, not the store"
    )
    parser.add_argument("--scan-files", type=int, default=0, help="also scan a folder of this many files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hs-bench-library-") as tmp:
        data = args.data_dir or Path(tmp) / "data"
        asyncio.run(main(args.tracks, args.queries, data, args.workers, args.index_only, args.scan_files))
