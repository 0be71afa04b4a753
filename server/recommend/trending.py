"""Trending tracks: recent counted plays with decay, kept in Redis sorted sets.

Plays are counted per UTC day in ``{prefix}trending:{day}:all`` and, per genre, in
``{prefix}trending:{day}:g:{genre key}``; each day's set expires after ``DAYS`` days. Reading sums the
last ``DAYS`` days with weights halving every ``HALF_LIFE_DAYS`` (``ZUNIONSTORE … WEIGHTS``), cached
for ``CACHE_SECONDS``. Day buckets keep scores small and exact, need no rescaling, and clean
themselves up; the decay is applied when reading, so changing it needs no migration.

Playback tells a :class:`TrendingCounter` of every counted play (the web player's listens past 30 s or
half the track, and Subsonic scrobbles with ``submission=true``), once per listen.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from server.search.text import fold

DAYS = 7
HALF_LIFE_DAYS = 2.0
CACHE_SECONDS = 30
KEEP_PER_DAY = 5000
"""Tracks kept per day and scope; the long tail cannot trend anyway."""
_DAY = 86400


def _day(now: float) -> int:
    return int(now // _DAY)


def _scope(genre: str | None) -> str:
    return f"g:{fold(genre)}" if genre else "all"


async def record_play(
    redis: aioredis.Redis, prefix: str, track_id: str, genre: str | None, *, now: float | None = None
) -> None:
    """Count one play of ``track_id`` (of ``genre``, if any) toward trending."""
    day = _day(time.time() if now is None else now)
    async with redis.pipeline(transaction=False) as pipe:
        for scope in {"all", _scope(genre)}:
            key = f"{prefix}trending:{day}:{scope}"
            pipe.zincrby(key, 1, track_id)
            pipe.expire(key, (DAYS + 1) * _DAY)
            # Within the cap this removes nothing; past it, the least played of the day go.
            pipe.zremrangebyrank(key, 0, -KEEP_PER_DAY - 1)
        await pipe.execute()


class TrendingCounter:
    """:func:`record_play` bound to one Redis and prefix: what playback calls per counted play."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def __call__(self, track_id: str, genre: str | None) -> None:
        await record_play(self._redis, self._prefix, track_id, genre)


async def trending(
    redis: aioredis.Redis, prefix: str, *, genre: str | None = None, limit: int = 50, now: float | None = None
) -> list[tuple[str, float]]:
    """The most played tracks lately (of ``genre``, if given), best first, with their decayed scores."""
    today = _day(time.time() if now is None else now)
    scope = _scope(genre)
    view = f"{prefix}trending:view:{today}:{scope}"
    if not await redis.exists(view):
        weights = {
            f"{prefix}trending:{today - age}:{scope}": 0.5 ** (age / HALF_LIFE_DAYS) for age in range(DAYS)
        }
        await redis.zunionstore(view, weights)
        await redis.expire(view, CACHE_SECONDS)
    rows = await redis.zrevrange(view, 0, limit - 1, withscores=True)
    return [
        (member.decode() if isinstance(member, bytes) else member, float(score)) for member, score in rows
    ]
