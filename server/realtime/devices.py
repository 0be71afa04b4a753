"""Which devices of a user have a Socket.IO connection, across every server process.

A Redis hash ``{prefix}devices:{user}`` counts connections per device id; remote-control commands may
only target a device listed there. Device ids are chosen by clients and only mean something within
one user, so one user can never name (let alone reach) another user's device.

A server process that dies leaves its devices counted; a command to such a device is then accepted
and sent to a room nobody is in, which is harmless. The key expires a month after the last connect.
"""

from __future__ import annotations

import redis.asyncio as aioredis

DEVICES_TTL = 30 * 86400
_RELEASE = """
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return left
"""


def device_room(user_id: str, device_id: str) -> str:
    """The Socket.IO room of one device of one user (user rooms are bare ids, so these never collide)."""
    return f"device:{user_id}:{device_id}"


class DeviceRegistry:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._release = redis.register_script(_RELEASE)

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}devices:{user_id}"

    async def connected(self, user_id: str, device_id: str) -> None:
        key = self._key(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, device_id, 1)
            pipe.expire(key, DEVICES_TTL)
            await pipe.execute()

    async def disconnected(self, user_id: str, device_id: str) -> None:
        # One script: a connect racing in between must never see its count deleted.
        await self._release(keys=[self._key(user_id)], args=[device_id])

    async def is_connected(self, user_id: str, device_id: str) -> bool:
        count = await self._redis.hget(self._key(user_id), device_id)
        return count is not None and int(count) > 0
