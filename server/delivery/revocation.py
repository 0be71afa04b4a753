"""Revoked media URLs: signed URLs stay stateless, but a disabled or deleted user's, and a signed-out
login's, stop working within seconds (and at most :data:`RELOAD_EVERY` seconds) in every process.

Verifying a media token needs no database (that is what keeps segment serving lean), so revocation is a
small list every process holds in memory and checks beside the signature: logins revoked (any URL
naming the login is refused) and users revoked at a time (any URL of theirs that expires within a
URL's lifetime of that time, i.e. was handed out before it, is refused). The list lives in Redis, in
two sorted sets scored by the time of revocation (``<prefix>media:revoked:logins``, ``…:users``), and
each revocation is published on ``<prefix>media:revoked``: every process applies it as it arrives, and
reloads the whole list on start, on every reconnection and every :data:`RELOAD_EVERY` seconds, so a
message lost while Redis was away costs at most that. Entries older than a URL's lifetime can no longer
refuse anything and are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.asyncio as aioredis
import structlog

from server.delivery.signing import EXPIRY_STEP, MediaGrant
from server.documents import REDIS_DOWN

log = structlog.get_logger("harmonystream.revocation")

RELOAD_EVERY = 30.0
"""Seconds between full reloads (the bound when a pub/sub message was missed)."""


class Revocations:
    """The in-memory list, its Redis copy and the channel that keeps every process's list current."""

    def __init__(self, redis: aioredis.Redis, prefix: str, url_ttl: int) -> None:
        self._redis = redis
        self._logins_key = f"{prefix}media:revoked:logins"
        self._users_key = f"{prefix}media:revoked:users"
        self._channel = f"{prefix}media:revoked"
        # Past this many seconds after a revocation, every URL it concerns has expired by itself.
        self._span = url_ttl + EXPIRY_STEP
        self._logins: dict[str, float] = {}
        self._users: dict[str, float] = {}

    def refuses(self, grant: MediaGrant) -> bool:
        """Whether ``grant`` (a verified token) was revoked. Memory only: safe on the segment lane."""
        if grant.login_id is not None and grant.login_id in self._logins:
            return True
        at = self._users.get(grant.user_id)
        # A URL handed out at t expires in (t + ttl, t + ttl + step]: one expiring by at + span was
        # handed out no later than the revocation (or within its step, when the user was disabled).
        return at is not None and grant.expires_at <= at + self._span

    async def revoke_login(self, login_id: str) -> None:
        await self._revoke(self._logins_key, "login", login_id)

    async def revoke_user(self, user_id: str) -> None:
        await self._revoke(self._users_key, "user", user_id)

    async def _revoke(self, key: str, kind: str, subject: str) -> None:
        now = time.time()
        self._apply(kind, subject, now)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {subject: now})
            pipe.zremrangebyscore(key, "-inf", now - self._span)
            pipe.expire(key, int(self._span) + 60)
            pipe.publish(self._channel, f"{kind}:{now}:{subject}")
            await pipe.execute()

    def _apply(self, kind: str, subject: str, at: float) -> None:
        table = self._logins if kind == "login" else self._users
        table[subject] = max(at, table.get(subject, 0.0))

    async def reload(self) -> None:
        """Replace the in-memory list with Redis's (entries past their span left out)."""
        since = time.time() - self._span
        logins = await self._redis.zrangebyscore(self._logins_key, since, "+inf", withscores=True)
        users = await self._redis.zrangebyscore(self._users_key, since, "+inf", withscores=True)
        self._logins = {_text(m): s for m, s in logins}
        self._users = {_text(m): s for m, s in users}

    async def follow(self) -> None:
        """Run forever (supervised): apply published revocations as they come, reload periodically.
        While Redis is away it waits and starts over (subscribing and reloading again), so an outage
        of Redis, already reported by ``/readyz``, does not make this task look broken too."""
        while True:
            try:
                await self._follow()
            except REDIS_DOWN as exc:
                log.info("revocations_waiting_for_redis", error=str(exc)[:200])
                await asyncio.sleep(1.0)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            await self.reload()
            next_reload = time.monotonic() + RELOAD_EVERY
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message.get("type") == "message":
                    self._on_message(_text(message["data"]))
                if time.monotonic() >= next_reload:
                    await self.reload()
                    next_reload = time.monotonic() + RELOAD_EVERY
                if message is None:
                    await asyncio.sleep(0.2)  # the embedded stand-in returns at once: no busy loop
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _on_message(self, data: str) -> None:
        kind, _, rest = data.partition(":")
        at, _, subject = rest.partition(":")
        try:
            self._apply(kind, subject, float(at))
        except ValueError:
            log.warning("revocation_unreadable", data=data[:100])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
