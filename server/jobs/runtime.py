"""Build the job queue and workers from settings; the ``cleanup_ctx`` that runs them inside ``serve``.

``serve`` always has the queue (uploads and scans enqueue). It runs workers itself when Redis is
embedded (no other process can reach it) or when ``inprocess_worker`` is set; otherwise separate
``harmonystream worker`` processes do the work. Either way it sweeps, at start and every
``job_sweep_interval``, for tracks left ``processing`` without a live job (a crash between saving a
track and queueing it, a Redis that restarted empty, a ``scan`` run without a reachable queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import structlog
from aiohttp import web

from media.catalog_cache import CatalogCache
from media.events import EventPublisher
from media.storage import LocalMediaStore, open_media_store
from server import keys
from server.handles import Database
from server.settings import Settings
from server.shutdown import bounded
from transcoder.albums import AlbumLoudness
from transcoder.jobs import JobStore
from transcoder.queue import JobQueue, QueueConfig
from transcoder.tracks import TrackRecords
from transcoder.worker import Worker, WorkerConfig

log = structlog.get_logger("harmonystream.jobs")


def make_queue(settings: Settings, db: Database, redis: aioredis.Redis) -> JobQueue:
    """The job queue of this deployment (any process may enqueue: serve, scan, a worker)."""
    return JobQueue(
        redis,
        JobStore(db, max_attempts=settings.job_max_attempts),
        QueueConfig(
            prefix=settings.redis_prefix,
            claim_timeout=settings.job_claim_timeout,
            max_attempts=settings.job_max_attempts,
            retry_delay=settings.job_retry_delay,
        ),
    )


def make_worker(settings: Settings, queue: JobQueue, db: Database, events: EventPublisher) -> Worker:
    location = settings.s3_location
    bucket = open_media_store(settings.media_dir, location) if location else None
    media = bucket or LocalMediaStore(settings.media_dir)
    return Worker(
        queue,
        TrackRecords(db),
        events,
        WorkerConfig(
            media_root=settings.media_dir,
            bucket=bucket,
            scratch=settings.tmp_dir / "jobs",
            concurrency=settings.worker_concurrency,
            # A blocking read must end well before the Redis client's own socket timeout.
            poll_interval=min(settings.job_poll_interval, settings.dependency_timeout / 2),
            shutdown_grace=settings.worker_shutdown_grace,
        ),
        albums=AlbumLoudness(db, CatalogCache(queue.redis, settings.redis_prefix), media),
    )


async def sweep(queue: JobQueue, db: Database) -> list[str]:
    """Queue again the tracks left ``processing`` without a live job; returns their ids."""
    requeued = await queue.recover(await TrackRecords(db).processing_ids())
    if requeued:
        log.info("jobs_requeued", tracks=len(requeued))
    return requeued


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    """Queue always; in-process workers when needed; the sweeper. Stopped in reverse order."""
    settings = app[keys.SETTINGS]
    db = app[keys.DB]
    # Nothing here may need Redis yet: serve starts (and answers 503) while Redis is down.
    queue = make_queue(settings, db, app[keys.REDIS])
    app[keys.JOBS] = queue
    worker: Worker | None = None
    if settings.runs_inprocess_worker:
        worker = make_worker(settings, queue, db, app[keys.EVENTS])
        await worker.start()
        app[keys.WORKER] = worker
    stop = asyncio.Event()
    supervisor = app[keys.SUPERVISOR]
    # Only the embedded Redis needs waking: with a real one, every process enqueues by itself.
    wake = settings.data_dir / WAKE_FILE if not settings.redis_url else None
    supervisor.start(
        "job-sweeper", lambda: _sweep_forever(queue, db, settings.job_sweep_interval, stop, wake)
    )
    try:
        yield
    finally:
        stop.set()
        await bounded(supervisor.stop("job-sweeper"), seconds=10, what="job sweeper")
        if worker is not None:
            await bounded(worker.stop(), seconds=settings.worker_shutdown_grace + 10, what="worker")


WAKE_FILE = "jobs.wake"
"""Touched (in the data dir) by a process that saved processing tracks it could not queue itself."""
WAKE_POLL = 1.0


def wake_sweeper(settings: Settings) -> None:
    """Tell a ``serve`` on the same data dir to queue new processing tracks now. Blocking.

    With the embedded Redis no other process can reach the queue: ``harmonystream scan`` calls this
    after saving its tracks, so their transcodes start within a second instead of at the next sweep.
    """
    path = settings.data_dir / WAKE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)  # a data dir nothing else wrote to yet (MongoDB)
    path.touch()
    os.utime(path)


async def _sweep_forever(
    queue: JobQueue, db: Any, interval: float, stop: asyncio.Event, wake: Path | None = None
) -> None:
    """Sweep at start and every ``interval``, and as soon as ``wake``'s modification time changes."""
    seen = _mtime(wake)
    while not stop.is_set():
        try:
            await sweep(queue, db)
        except Exception:
            # The database or Redis may be briefly away; the next round tries again.
            log.exception("job_sweep_failed")
        deadline = asyncio.get_running_loop().time() + max(1.0, interval)
        while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WAKE_POLL if wake is not None else max(1.0, interval))
            if wake is not None and (now := _mtime(wake)) != seen:
                seen = now
                break


def _mtime(path: Path | None) -> int | None:
    try:
        return os.stat(path).st_mtime_ns if path is not None else None
    except FileNotFoundError:
        return None
