"""Open the database and Redis handles: real servers when URLs are configured, embedded otherwise.

The rest of the code sees only a PyMongo-shaped async database and a redis-py asyncio client, so the
same stores and services run in both modes. Embedded means our own document store on SQLite in the data
dir (``server/docstore``, safe across processes) and fakeredis in-process (one process only: fine for
``serve`` alone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from server.settings import Settings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

Database = Any
"""A ``pymongo.asynchronous.database.AsyncDatabase`` or the embedded store's database (same calls)."""


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    if settings.mongo_url:
        from pymongo import AsyncMongoClient

        timeout_ms = int(settings.dependency_timeout * 1000)
        client: Any = AsyncMongoClient(
            settings.mongo_url,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms * 4,
            appname="harmonystream",
        )
    else:
        from server.docstore import EmbeddedClient

        client = EmbeddedClient(settings.store_dir)
    try:
        yield client[settings.mongo_db]
    finally:
        await client.close()


def make_redis(settings: Settings) -> aioredis.Redis:
    """A Redis client; it connects lazily, so it can be made before the event loop runs."""
    if settings.redis_url:
        import redis.asyncio as aioredis  # here: a command that needs no Redis does not load the client

        return aioredis.from_url(
            settings.redis_url,
            socket_timeout=settings.dependency_timeout,
            socket_connect_timeout=settings.dependency_timeout,
            health_check_interval=30,
            retry_on_timeout=False,
        )
    import fakeredis

    return fakeredis.FakeAsyncRedis()
