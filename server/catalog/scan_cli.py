"""``harmonystream scan PATH``: the command-line face of :class:`LibraryScanner`.

Opens the same database and Redis as ``serve`` (so the cache entries it changes are invalidated when
Redis is shared), draws a progress bar on a terminal, and prints a summary.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from media.catalog_cache import CatalogCache
from media.layout import MediaLayout
from migrations import apply_pending
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import ArtistStore
from server.catalog.scan import Enqueue, LibraryScanner, ScanSummary
from server.catalog.service import CatalogService
from server.catalog.store import TrackStore
from server.events import EventBus
from server.handles import make_redis, open_database
from server.jobs.runtime import wake_sweeper
from server.lyrics.store import LyricsStore
from server.settings import Settings


class ProgressBar:
    """``scanning [#########-----------]  45%  450/1000`` redrawn in place; silent when not a terminal."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._live = stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self._live or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(share * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\rscanning [{bar}] {share:4.0%}  {done}/{total}")
        self._stream.flush()

    def close(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


async def run_scan(
    settings: Settings, path: Path, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> ScanSummary:
    """Scan ``path`` into the catalog of ``settings``; prints the summary to ``out``.

    With a shared Redis the transcodes are queued at once. With the embedded Redis (private to each
    process) they cannot be: the tracks are saved ``processing`` and a running server is woken to
    queue them (``server.jobs.runtime.wake_sweeper``).
    """
    redis = make_redis(settings)
    bar = ProgressBar(err)
    enqueue: Enqueue | None = None
    try:
        async with open_database(settings) as db:
            await apply_pending(db)
            if settings.redis_url:
                from transcoder.jobs import JobStore
                from transcoder.queue import JobQueue, QueueConfig

                queue = JobQueue(redis, JobStore(db), QueueConfig(prefix=settings.redis_prefix))
                await queue.ensure_group()
                enqueue = queue.enqueue
            catalog = CatalogService(
                tracks=TrackStore(db),
                artists=ArtistStore(db),
                albums=AlbumStore(db),
                cache=CatalogCache(redis, settings.redis_prefix),
                events=EventBus(),
                layout=MediaLayout(settings.media_dir),
                lyrics=LyricsStore(db),
            )
            summary = await LibraryScanner(catalog, enqueue).scan(path, on_progress=bar)
    finally:
        bar.close()
        await redis.aclose()
    for line in summary.lines():
        out.write(line + "\n")
    if enqueue is None and (summary.added or summary.updated):
        # A serve on this data dir notices within a second and queues their transcodes.
        wake_sweeper(settings)
        out.write("new and changed tracks are processing; a running server picks them up\n")
    return summary
