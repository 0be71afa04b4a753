"""Rate limiting: a sliding-window counter in one Redis Lua script, shared by every server process.

``RateLimiter.hit`` is the one mechanism; the middleware applies the general per-client API limit and
the auth routes call it for their stricter per-IP and per-username limits.
"""

from __future__ import annotations

import math
import time
from importlib import resources

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.typedefs import Handler

from server import keys
from server.errors import RateLimited
from server.middleware.client_ip import client_ip

_SCRIPT = resources.files("server.middleware").joinpath("ratelimit.lua").read_text()


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._script = redis.register_script(_SCRIPT)
        self._prefix = prefix

    async def hit(self, scope: str, subject: str, limit: tuple[int, int]) -> None:
        """Count one request by ``subject`` in ``scope``; raise RateLimited when over ``limit``."""
        count, window = limit
        now = time.time()
        slot = int(now // window)
        elapsed = (now - slot * window) / window
        weight = 1.0 - elapsed
        base = f"{self._prefix}rl:{scope}:{subject}"
        allowed, previous, current = await self._script(
            keys=[f"{base}:{slot}", f"{base}:{slot - 1}"], args=[count, f"{weight:.6f}", window * 2]
        )
        if not allowed:
            raise RateLimited(_retry_after(count, window, elapsed, int(previous), int(current)))

    async def check(self, scope: str, subject: str, limit: tuple[int, int]) -> None:
        """RateLimited if one more request by ``subject`` would go over ``limit``; counts nothing.

        For limits on failures only (Subsonic sign-ins): check before, :meth:`hit` after a failure.
        """
        count, window = limit
        elapsed, previous, current = await self._counts(scope, subject, window)
        if previous * (1.0 - elapsed) + current + 1 > count:
            raise RateLimited(_retry_after(count, window, elapsed, previous, current))

    async def counted(self, scope: str, subject: str, window: int) -> float:
        """How many requests ``subject`` has in ``scope``'s sliding window (weighted, as the limit sees
        them); counts nothing."""
        elapsed, previous, current = await self._counts(scope, subject, window)
        return previous * (1.0 - elapsed) + current

    async def _counts(self, scope: str, subject: str, window: int) -> tuple[float, int, int]:
        """(share of the current fixed window gone by, previous window's count, current's count)."""
        now = time.time()
        slot = int(now // window)
        base = f"{self._prefix}rl:{scope}:{subject}"
        current, previous = (
            int(v or 0) for v in await self._redis.mget(f"{base}:{slot}", f"{base}:{slot - 1}")
        )
        return (now - slot * window) / window, previous, current


def _retry_after(limit: int, window: int, elapsed: float, previous: int, current: int) -> int:
    """Seconds until one more request fits, from the counts the script saw."""
    to_rollover = (1.0 - elapsed) * window
    if current + 1 <= limit and previous:
        # Room comes back as the previous window's weight falls: previous * w + current + 1 <= limit.
        wait = to_rollover - window * (limit - current - 1) / previous
    else:
        # The current window alone is full: after the rollover it becomes the weighted one.
        wait = to_rollover + window * max(0.0, 1.0 - (limit - 1) / current)
    return max(1, math.ceil(wait))


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The general API limit, per signed-in user or else per client address."""
    if request.path.startswith("/api/"):
        settings = request.app[keys.SETTINGS]
        principal = request.get(keys.PRINCIPAL)
        subject = f"u:{principal.user_id}" if principal else f"ip:{client_ip(request, settings)}"
        await request.app[keys.RATE_LIMITER].hit("api", subject, settings.rate_limits.api_per_client)
    return await handler(request)
