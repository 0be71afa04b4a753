"""Redis read-through cache of catalog documents (artists, albums, tracks), invalidated on every write.

A read is one ``MGET`` of the value and its generation counter. On a miss the loader reads the
database and the value is stored only if the generation is still the one seen before the read (one
Lua script for all the misses of a read, atomic like ``WATCH``/``MULTI`` but one round trip): a write
bumps the generation before deleting the value, so a reader that loaded the old document while a
write happened can never put it back in the cache.

Records (``media.records``) are stored as the BSON of their ``to_doc()``, which keeps datetimes and
nested documents exactly, and read back with the record's ``from_doc``: callers give and get records.

With no Redis server (the embedded in-process stand-in) there is nothing to share and the local store
answers faster than the stand-in does: ``CatalogCache(None, …)`` reads straight through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import bson

if TYPE_CHECKING:  # a scan without a Redis server never loads the client
    import redis.asyncio as aioredis

Kind = Literal["artist", "album", "track"]
Doc = dict[str, Any]


class Cached(Protocol):
    """What the cache keeps: a record with an id that turns into a document and back."""

    @property
    def id(self) -> str: ...

    def to_doc(self) -> Doc: ...


R = TypeVar("R", bound=Cached)

DEFAULT_TTL = 300
"""Seconds a cached document lives. Bounded so that writes from another process whose Redis we do not
share (``scan`` beside an embedded ``serve``) show within minutes."""
GENERATION_TTL = 86400

# KEYS: value and generation key per document; ARGV: the TTL, then per document the generation seen
# before loading ("" when there was none) and the value.
_FILL = """
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
    local seen = ARGV[i + 1]
    local now = redis.call('GET', KEYS[i + 1])
    if (now == false and seen == '') or now == seen then
        redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ttl)
    end
end
return 0
"""


class CatalogCache:
    def __init__(self, redis: aioredis.Redis | None, prefix: str, ttl: int = DEFAULT_TTL) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"
        self._ttl = ttl

    def _keys(self, kind: Kind, doc_id: str) -> tuple[str, str]:
        key = f"{self._prefix}{kind}:{doc_id}"
        return key, key + ":gen"

    async def get(
        self,
        kind: Kind,
        doc_id: str,
        load: Callable[[], Awaitable[R | None]],
        decode: Callable[[Doc], R],
        *,
        cacheable: Callable[[R], bool] | None = None,
    ) -> R | None:
        """The record from the cache (read back by ``decode``), else from ``load()`` (then cached if
        ``cacheable``)."""
        if self._redis is None:
            return await load()
        key, gen_key = self._keys(kind, doc_id)
        raw, gen = await self._redis.mget(key, gen_key)
        if raw is not None:
            return decode(bson.decode(_bytes(raw)))
        record = await load()
        if record is not None and (cacheable is None or cacheable(record)):
            await self._fill([(key, gen_key, gen, record)])
        return record

    async def get_many(
        self,
        kind: Kind,
        ids: Iterable[str],
        load_many: Callable[[list[str]], Awaitable[list[R]]],
        decode: Callable[[Doc], R],
        *,
        cacheable: Callable[[R], bool] | None = None,
    ) -> dict[str, R]:
        """{id: record} for the ids that exist; one MGET, one database query for the misses."""
        wanted = list(dict.fromkeys(i for i in ids if i))
        if not wanted:
            return {}
        if self._redis is None:
            return {record.id: record for record in await load_many(wanted)}
        names = [name for doc_id in wanted for name in self._keys(kind, doc_id)]
        values = await self._redis.mget(names)
        found: dict[str, R] = {}
        missing: dict[str, Any] = {}
        for i, doc_id in enumerate(wanted):
            raw, gen = values[2 * i], values[2 * i + 1]
            if raw is not None:
                found[doc_id] = decode(bson.decode(_bytes(raw)))
            else:
                missing[doc_id] = gen
        if missing:
            fills: list[tuple[str, str, Any, Cached]] = []
            for record in await load_many(list(missing)):
                found[record.id] = record
                if cacheable is None or cacheable(record):
                    fills.append((*self._keys(kind, record.id), missing[record.id], record))
            await self._fill(fills)
        return found

    async def invalidate(self, kind: Kind, *ids: str) -> None:
        """Forget these documents; call after every write to them (after the database write)."""
        if not ids or self._redis is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for doc_id in ids:
                key, gen_key = self._keys(kind, doc_id)
                pipe.incr(gen_key)
                pipe.expire(gen_key, GENERATION_TTL)
                pipe.delete(key)
            await pipe.execute()

    async def _fill(self, items: list[tuple[str, str, Any, Cached]]) -> None:
        """Cache each (key, generation key, generation seen, record) whose generation is unchanged."""
        if not items or self._redis is None:
            return
        keys: list[str] = []
        args: list[Any] = [self._ttl]
        for key, gen_key, seen_gen, record in items:
            keys += [key, gen_key]
            args += [seen_gen if seen_gen is not None else b"", bson.encode(record.to_doc())]
        await self._redis.eval(_FILL, len(keys), *keys, *args)


def _bytes(raw: bytes | str) -> bytes:
    # The client is made without decode_responses, so values come back as bytes; typed as either.
    return raw if isinstance(raw, bytes) else raw.encode()
