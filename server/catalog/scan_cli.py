"""``harmonystream scan PATH``: the command-line face of :class:`LibraryScanner`.

Opens the same database and Redis as ``serve`` (so the cache entries it changes are invalidated when
Redis is shared), draws a progress bar on a terminal, and prints a summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
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
from server.lyrics.store import LyricsStore
from server.settings import Settings

Clock = Callable[[], float]


class ProgressBar:
    """``scanning [#########---------]  45%  450/1000  312 files/s  ETA 0:02`` redrawn in place.

    Silent when the stream is not a terminal. The rate counts the files handled since the bar was
    drawn first (unchanged files are handled at once, so a rescan shows its true pace), and the
    ETA is what is left at that rate.
    """

    def __init__(
        self, stream: TextIO, width: int = 30, *, live: bool | None = None, clock: Clock = time.monotonic
    ) -> None:
        self._stream = stream
        self._width = width
        self._live = stream.isatty() if live is None else live
        self._clock = clock
        self._last = float("-inf")
        self._start: tuple[float, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if self._start is None:
            self._start = (now, done)
        if not self._live or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(share * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        line = f"\rscanning [{bar}] {share:4.0%}  {done}/{total}"
        began, first = self._start
        if now > began and done > first:
            rate = (done - first) / (now - began)
            line += f"  {rate:,.0f} files/s  ETA {_clock_time((total - done) / rate)}"
        self._stream.write(line + "\x1b[K")  # erase what a longer previous line left
        self._stream.flush()

    def close(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


def _clock_time(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


async def run_scan(
    settings: Settings,
    path: Path,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    watch_every: float | None = None,
) -> ScanSummary:
    """Scan ``path`` into the catalog of ``settings``; prints the summary to ``out``.

    With ``watch_every`` (seconds) it then keeps watching: the folder is scanned again that often
    until SIGINT or SIGTERM, and each pass that changed something prints its summary. A pass that
    finds nothing new costs a walk of the tree (a ``stat`` per file) and one read of the folder
    fingerprints the last pass saved (100,000 files: about half a second), so polling is cheap,
    works on network shares where inotify does not, and needs no other library.

    With a shared Redis the transcodes are queued at once. With the embedded Redis (private to each
    process) they cannot be: the tracks are saved ``processing`` and a running server is woken to
    queue them (``server.jobs.runtime.wake_sweeper``).
    """
    # Redis only when it is a server's own: the embedded stand-in would be private to this process.
    redis = make_redis(settings) if settings.redis_url else None
    bar = ProgressBar(err)
    enqueue: Enqueue | None = None
    try:
        async with open_database(settings) as db:
            await apply_pending(db)
            if redis is not None:
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
            try:
                summary = await LibraryScanner(catalog, enqueue, on_play=settings.scans_on_play).scan(
                    path, on_progress=bar
                )
            finally:
                bar.close()
            _report(settings, summary, queued=enqueue is not None, out=out)
            if watch_every is not None:
                await _watch(settings, catalog, enqueue, path, watch_every, out=out, err=err)
    finally:
        if redis is not None:
            await redis.aclose()
    return summary


async def _watch(
    settings: Settings,
    catalog: CatalogService,
    enqueue: Enqueue | None,
    path: Path,
    every: float,
    *,
    out: TextIO,
    err: TextIO,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    out.write(f"watching {path} every {every:g} s (Ctrl-C stops)\n")
    out.flush()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            if stop.is_set():
                break
            try:
                summary = await LibraryScanner(catalog, enqueue, on_play=settings.scans_on_play).scan(path)
            except OSError as exc:
                # An unmounted drive or a share that went away: keep watching for it to come back.
                err.write(f"{time.strftime('%H:%M:%S')} cannot scan {path}: {exc}\n")
                err.flush()
                continue
            if summary.added or summary.updated or summary.missing or summary.restored or summary.skipped:
                out.write(f"{time.strftime('%H:%M:%S')} ")
                _report(settings, summary, queued=enqueue is not None, out=out)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _report(settings: Settings, summary: ScanSummary, *, queued: bool, out: TextIO) -> None:
    for line in summary.lines():
        out.write(line + "\n")
    if settings.scans_on_play and (summary.added or summary.updated):
        out.write("new and changed tracks are playable now; their ladders are made when played\n")
    elif not queued and (summary.added or summary.updated):
        # A serve on this data dir notices within a second and queues their transcodes.
        from server.jobs.runtime import wake_sweeper  # the job runtime is big; only this is needed

        wake_sweeper(settings)
        out.write("new and changed tracks are processing; a running server picks them up\n")
    out.flush()
