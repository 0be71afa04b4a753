"""Which devices of a user have a Socket.IO connection, across every server process.

A Redis hash ``{prefix}devices:{user}`` counts connections per device id; remote-control commands may
only target a device listed there. Device ids are chosen by clients and only mean something within
one user, so one user can never name (let alone reach) another user's device.

A server process that dies leaves its devices counted; a command to such a device is then accepted
and sent to a room nobody is in, which is harmless. The key expires a month after the last connect.

Presence: each process refreshes ``{prefix}presence:{user}:{device}`` (expiring after
:data:`PRESENCE_TTL`) for the devices it holds connections of, every :data:`HEARTBEAT` seconds. A device
counted in the hash whose presence key has expired was held by a process that died: it is gone.
"""

from __future__ import annotations

import redis.asyncio as aioredis

DEVICES_TTL = 30 * 86400
PRESENCE_TTL = 30
"""Seconds a device stays present after the last heartbeat of the process holding its connection."""
HEARTBEAT = 10
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

    def _presence(self, user_id: str, device_id: str) -> str:
        return f"{self._prefix}presence:{user_id}:{device_id}"

    async def connected(self, user_id: str, device_id: str) -> None:
        key = self._key(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, device_id, 1)
            pipe.expire(key, DEVICES_TTL)
            pipe.set(self._presence(user_id, device_id), 1, ex=PRESENCE_TTL)
            await pipe.execute()

    async def forget(self, user_id: str) -> None:
        """A deleted account's device counts and presence marks."""
        devices = await self._redis.hkeys(self._key(user_id))
        names = [self._presence(user_id, d.decode() if isinstance(d, bytes) else d) for d in devices]
        await self._redis.delete(self._key(user_id), *names)

    async def heartbeat(self, devices: set[tuple[str, str]]) -> None:
        """Keep the (user id, device id) pairs this process holds connections of present."""
        if not devices:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id, device_id in devices:
                pipe.set(self._presence(user_id, device_id), 1, ex=PRESENCE_TTL)
            await pipe.execute()

    async def disconnected(self, user_id: str, device_id: str) -> int:
        """One connection of the device ended; how many remain (across every process)."""
        # One script: a connect racing in between must never see its count deleted.
        left = int(await self._release(keys=[self._key(user_id)], args=[device_id]))
        if left <= 0:
            await self._redis.delete(self._presence(user_id, device_id))
        return left

    async def present(self, user_id: str, device_id: str) -> bool:
        """False only for a device counted as connected whose holder stopped its heartbeats (it died).

        A device never seen on Socket.IO (a REST client naming its own device id) counts as present:
        nothing here knows when it leaves.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._key(user_id), device_id)
            pipe.exists(self._presence(user_id, device_id))
            count, alive = await pipe.execute()
        return count is None or int(count) <= 0 or bool(alive)

    async def is_connected(self, user_id: str, device_id: str) -> bool:
        count = await self._redis.hget(self._key(user_id), device_id)
        return count is not None and int(count) > 0
