"""Search at 100,000 tracks in the embedded store: index build time and memory, as-you-type latency.

    .venv/bin/python bench/search.py [--tracks 100000] [--queries 200] [--data-dir DIR] [--profile FILE]

With ``--data-dir``, a corpus generated there by an earlier run is reused (generating takes minutes).
``--profile`` writes a cProfile of the whole search calls (read it with ``python -m pstats FILE``).

Generates artists, albums and tracks (pseudo-words, accents, genres, years) in a fresh embedded
store (a temporary directory unless ``--data-dir`` is given), builds the search index from it as
``serve`` does at start, then times 200 as-you-type queries (each word typed letter by letter, a
few with a typo): the index alone, the whole service call (index and the result views, from memory),
and for comparison what reading each page's documents back from the store would add. Prints a
Markdown block for docs/PERFORMANCE.md. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import random
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import fakeredis

from media.catalog_cache import CatalogCache
from media.layout import MediaLayout
from migrations import apply_pending
from server.auth.service import Principal
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import ArtistStore
from server.catalog.service import CatalogService
from server.catalog.store import TrackStore
from server.cli import tune_gc
from server.events import EventBus
from server.handles import open_database
from server.search.catalog_index import CatalogIndex
from server.search.schemas import SearchQuery
from server.search.service import SearchService
from server.search.store import KINDS, SearchStore
from server.search.text import words
from server.settings import Settings

SYLLABLES = "ka lo mi ra zu ne to bel mor sin da vi que ar el on ste fan gro lu é ñ ö".split(" ")  # noqa: SIM905 - reads better than 23 quoted syllables
GENRES = ["Jazz", "Rock", "Pop", "Electronic", "Hip-Hop", "Classical", "Folk", "Metal", "Soul", "Reggae"]


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


async def generate(
    rng: random.Random, db: Any, track_store: TrackStore, tracks: int, n_artists: int, n_albums: int
) -> None:
    started = time.perf_counter()
    # The stores' own document builders, inserted in batches: one insert per document would make
    # generating the corpus take minutes.
    artist_docs = [ArtistStore._new(f"{phrase(rng, 1, 2)} {i}", None, []) for i in range(n_artists)]
    await db["artists"].insert_many(artist_docs)
    album_docs = [
        AlbumStore._new(
            f"{phrase(rng, 1, 3)} {i}", artist_docs[i % n_artists]["_id"], rng.randint(1950, 2025), []
        )
        for i in range(n_albums)
    ]
    for start in range(0, n_albums, 5000):
        await db["albums"].insert_many(album_docs[start : start + 5000])
    batch = []
    for i in range(tracks):
        album = album_docs[i % n_albums]
        batch.append(
            track_store.new_document(
                {
                    "title": phrase(rng, 1, 4), "artist_id": album["artist_id"], "album_id": album["_id"],
                    "genre": rng.choice(GENRES), "release_year": album["release_year"],
                    "status": "ready" if rng.random() < 0.97 else "processing",
                    "play_count": int(rng.paretovariate(1.2)),
                    "duration_ms": rng.randint(90_000, 420_000),
                }
            )
        )  # fmt: skip
        if len(batch) == 5000:
            await track_store.insert_many(batch)
            batch = []
    await track_store.insert_many(batch)
    print(
        f"generated {n_artists} artists, {n_albums} albums, {tracks} tracks"
        f" in {time.perf_counter() - started:.1f} s"
    )


async def main(tracks: int, queries: int, data_dir: Path, profile: Path | None) -> None:
    rng = random.Random(42)
    settings = Settings(data_dir=data_dir, secret_key="bench")
    async with open_database(settings) as db:
        await apply_pending(db)
        artists, albums, track_store = ArtistStore(db), AlbumStore(db), TrackStore(db)
        n_artists, n_albums = max(tracks // 30, 10), max(tracks // 10, 10)
        if await db["tracks"].count_documents({}) == 0:
            await generate(rng, db, track_store, tracks, n_artists, n_albums)
        else:
            print(f"reusing the corpus in {data_dir}")
        artist_docs = await db["artists"].find({}, {"name": 1}).to_list(None)
        album_docs = await db["albums"].find({}, {"title": 1}).to_list(None)

        tune_gc()  # as ``serve`` does at start
        reader = SearchStore(db)
        redis = fakeredis.FakeAsyncRedis()
        catalog = CatalogService(
            tracks=track_store, artists=artists, albums=albums, cache=CatalogCache(redis, "bench:"),
            events=EventBus(), layout=MediaLayout(settings.media_dir),
        )  # fmt: skip
        service = SearchService(reader, catalog, refresh_seconds=3600)
        gc.collect()
        started = time.perf_counter()
        await service.build()
        build_s = time.perf_counter() - started

        # Memory of the index alone: rebuild it from already-read documents under tracemalloc.
        scanned = {kind: await reader.scan(kind) for kind in KINDS}
        gc.collect()
        tracemalloc.start()
        index = CatalogIndex()
        for kind in KINDS:
            for doc in scanned[kind]:
                index.put(kind, doc)
        for text_index in index.indexes.values():
            text_index.warm()
        index_mb = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.stop()
        del index, scanned
        gc.collect()

        names = [d["name"] for d in artist_docs] + [d["title"] for d in album_docs]
        names += [t["title"] for t in await db["tracks"].find({}, {"title": 1}).limit(5000).to_list(None)]
        typed_queries = typed(random.Random(7), names, queries)
        listener = Principal(
            user_id="bench", username="bench", roles=frozenset({"listener"}), login_id="b", via="token"
        )
        index_ms, page_ms, service_ms, totals = [], [], [], []
        profiler = cProfile.Profile() if profile else None
        for q in typed_queries:
            parsed = service.parse(listener, SearchQuery(q=q))
            t0 = time.perf_counter()
            hits = service.index.search(parsed)
            index_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            for kind in KINDS:
                await reader.fetch(kind, hits.ids[kind])
            page_ms.append((time.perf_counter() - t0) * 1000)
            if profiler is not None:
                profiler.enable()
            t0 = time.perf_counter()
            await service.search(listener, SearchQuery(q=q))
            service_ms.append((time.perf_counter() - t0) * 1000)
            if profiler is not None:
                profiler.disable()
            totals.append(hits.totals["track"])
        print()
        print(
            f"- corpus: {tracks:,} tracks, {n_artists:,} artists, {n_albums:,} albums"
            " (embedded store, SQLite)"
        )
        print(f"- index build from the store (projected scan + indexing): {build_s:.1f} s")
        print(f"- index memory (tracemalloc, all three kinds): {index_mb:.0f} MB")
        print(
            f"- {len(typed_queries)} as-you-type queries (e.g. {typed_queries[:4]}),"
            f" median track matches {statistics.median(totals):,.0f}:"
        )
        print(
            f"  - index only: p50 {pct(index_ms, 50):.1f} ms, p95 {pct(index_ms, 95):.1f} ms,"
            f" max {max(index_ms):.1f} ms"
        )
        print(
            f"  - whole search call (index + result views): p50 {pct(service_ms, 50):.1f} ms,"
            f" p95 {pct(service_ms, 95):.1f} ms, max {max(service_ms):.1f} ms"
        )
        print(
            f"  - for comparison, reading each page back from the store (3 kinds, ``$or`` of ids):"
            f" p50 {pct(page_ms, 50):.1f} ms, p95 {pct(page_ms, 95):.1f} ms"
        )
        if profiler is not None and profile is not None:
            profiler.dump_stats(profile)
        await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hs-bench-search-") as tmp:
        asyncio.run(main(args.tracks, args.queries, args.data_dir or Path(tmp), args.profile))
