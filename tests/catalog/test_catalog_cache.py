"""The catalog cache against a real Redis: a read-through fill never stores a copy a write replaced."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from media.catalog_cache import CatalogCache
from media.records import Album, Artist


async def test_a_fill_skips_documents_written_while_they_were_loaded(redis_url):
    redis = aioredis.from_url(redis_url)
    cache = CatalogCache(redis, f"hstest:{uuid.uuid4().hex[:12]}:")
    calls: list[list[str]] = []

    async def load_during_a_write(ids: list[str]) -> list[Artist]:
        calls.append(sorted(ids))
        await cache.invalidate("artist", "a1")  # a write to a1 lands while its old copy is read
        return [Artist(id=i, name=f"old {i}") for i in ids]

    async def load_now(ids: list[str]) -> list[Artist]:
        calls.append(sorted(ids))
        return [Artist(id=i, name=f"new {i}", owner_ids=("u1",)) for i in ids]

    async def load_one() -> Artist:
        return (await load_now(["a1"]))[0]

    try:
        first = await cache.get_many("artist", ["a1", "a2", "a3"], load_during_a_write, Artist.from_doc)
        assert first["a1"].name == "old a1"
        again = await cache.get_many("artist", ["a1", "a2", "a3"], load_now, Artist.from_doc)
        # a2 and a3 came from the cache; a1's stale copy was never stored, so it was read again.
        assert calls == [["a1", "a2", "a3"], ["a1"]]
        assert [again[i].name for i in ("a1", "a2", "a3")] == ["new a1", "old a2", "old a3"]
        cached = await cache.get("artist", "a1", load_one, Artist.from_doc)
        assert cached == Artist(id="a1", name="new a1", owner_ids=("u1",))  # the record, read back whole
        assert len(calls) == 2  # a1 is cached now
    finally:
        await redis.aclose()


async def test_without_a_redis_server_reads_go_straight_to_the_store():
    cache = CatalogCache(None, "unused:")
    calls: list[list[str]] = []

    async def load(ids: list[str]) -> list[Album]:
        calls.append(ids)
        return [Album(id=i, title="T", artist_id="a") for i in ids if i != "gone"]

    b1 = Album(id="b1", title="T", artist_id="a")
    assert await cache.get_many("album", ["b1", "gone", "b1"], load, Album.from_doc) == {"b1": b1}
    await cache.invalidate("album", "b1")
    assert await cache.get_many("album", ["b1"], load, Album.from_doc) == {"b1": b1}
    assert calls == [["b1", "gone"], ["b1"]]  # nothing kept between reads
