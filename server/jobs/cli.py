"""``harmonystream worker``: a transcoder worker in its own process.

Needs ``HS_REDIS_URL`` (the queue and the Socket.IO channel must be shared with ``serve``). The
database is ``HS_MONGO_URL``, or - when that is empty - the embedded store in ``HS_DATA_DIR``, which
is safe across processes: a worker beside an embedded-store ``serve`` on the same machine (give both
the same data dir and Redis). Runs until SIGTERM or SIGINT, then lets in-flight jobs finish for
``worker_shutdown_grace`` seconds and hands the rest back to the queue (another worker claims them).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import redis.asyncio as aioredis
import structlog

from migrations import apply_pending
from server.errors import ConfigError
from server.handles import make_redis, open_database
from server.jobs.runtime import make_queue, make_worker, sweep
from server.settings import Settings
from transcoder.publish import SocketIOPublisher
from transcoder.worker import cancel_and_wait

log = structlog.get_logger("harmonystream.worker")


HEALTH_INTERVAL = 10.0


async def _keep_health_file(settings: Settings, redis: aioredis.Redis) -> None:
    """Touch ``HS_WORKER_HEALTH_FILE`` while the event loop runs and Redis answers.

    A stuck loop or an unreachable Redis lets the file age, which a health check can see; the process
    merely being alive proves neither.
    """
    if not settings.worker_health_file:
        return
    path = Path(settings.worker_health_file)
    while True:
        try:
            await redis.ping()
            await asyncio.to_thread(path.touch)
        except Exception as exc:
            log.warning("worker_health_failed", error=repr(exc))
        await asyncio.sleep(HEALTH_INTERVAL)


def check(settings: Settings) -> None:
    if not settings.redis_url:
        raise ConfigError(
            "a separate worker needs HS_REDIS_URL (shared with 'serve'); with the embedded Redis "
            "'harmonystream serve' transcodes in-process"
        )


async def run_worker(settings: Settings) -> None:
    """Work until SIGTERM/SIGINT."""
    check(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    redis = make_redis(settings)
    publisher = SocketIOPublisher(settings.redis_url, settings.redis_prefix)
    try:
        async with open_database(settings) as db:
            await apply_pending(db)
            queue = make_queue(settings, db, redis)
            await queue.ensure_group()
            await sweep(queue, db)
            health = asyncio.create_task(_keep_health_file(settings, redis), name="worker-health")
            try:
                await make_worker(settings, queue, db, publisher).run(stop)
            finally:
                await cancel_and_wait(health)
    finally:
        await publisher.close()
        await redis.aclose()
