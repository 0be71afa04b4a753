"""Saved play queues (Subsonic ``savePlayQueue``/``getPlayQueue``): ``playqueue:<user>`` in Redis.

The queue is a list of track ids and the client that saved it, kept ``QUEUE_TTL`` after its last save;
where playback stands in it (current track, position) is the user's playback state, shared with the
web player (``server/playback/state.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis.asyncio as aioredis

QUEUE_TTL = 30 * 86400


@dataclass(frozen=True, slots=True)
class SavedQueue:
    ids: list[str]
    client: str | None


class PlayQueues:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}playqueue:{user_id}"

    async def get(self, user_id: str) -> SavedQueue:
        raw = await self._redis.get(self._key(user_id))
        saved = json.loads(raw) if raw else {}
        return SavedQueue(list(saved.get("ids", [])), saved.get("client"))

    async def save(self, user_id: str, queue: SavedQueue) -> None:
        payload = json.dumps({"ids": queue.ids, "client": queue.client})
        await self._redis.set(self._key(user_id), payload, ex=QUEUE_TTL)

    async def forget(self, user_id: str) -> None:
        await self._redis.delete(self._key(user_id))
