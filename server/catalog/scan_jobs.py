"""Folder scans started from the admin console: :class:`LibraryScanner` as a background task of ``serve``.

The state of each scan (queued → running → done | failed, files done/found, the summary) lives in
Redis under ``<prefix>scan:<id>`` rather than in this process, so whichever replica a poll reaches
can answer it. The task writes its progress at most every ``REPORT_INTERVAL`` seconds, and its last
write is the final state. A scan cut short by a shutdown is recorded as failed; running it again is
safe (scans are idempotent).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import redis.asyncio as aioredis
import structlog
from aiohttp import web

from server import keys
from server.catalog.scan import Enqueue, LibraryScanner, ScanSummary
from server.catalog.schemas import ScanOut, ScanSummaryOut, SkippedFile
from server.catalog.service import CatalogService
from server.documents import new_id, utcnow
from server.errors import Invalid, NotFound
from server.timestamps import iso

log = structlog.get_logger("harmonystream.scans")

STATE_TTL = 7 * 86400
"""Seconds a scan's state stays readable after its last change."""
REPORT_INTERVAL = 0.5
SKIPPED_SHOWN = 50
"""Skipped files listed in a summary (the count covers all of them)."""


class ScanRunner:
    """Starts scans in the background and reads their state back (from any replica)."""

    def __init__(
        self,
        catalog: CatalogService,
        redis: aioredis.Redis,
        prefix: str,
        enqueue: Callable[[], Enqueue | None],
        roots: tuple[Path, ...] = (),
        on_play: bool = False,
    ) -> None:
        self._roots = roots
        self._on_play = on_play
        self._catalog = catalog
        self._redis = redis
        self._prefix = f"{prefix}scan:"
        self._enqueue = enqueue
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, path: str, started_by: str) -> ScanOut:
        """Check ``path`` and start scanning it; the initial state. :class:`Invalid` for a bad path."""
        folder = await asyncio.to_thread(_checked_folder, path, self._roots)
        state = ScanOut(
            id=new_id(),
            path=str(folder),
            state="queued",
            done=0,
            total=0,
            progress=0,
            summary=None,
            error=None,
            started_by=started_by,
            started_at=iso(utcnow()),
            finished_at=None,
        )
        await self._save(state)
        task = asyncio.create_task(self._run(state, folder), name=f"scan-{state.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return state

    async def get(self, scan_id: str) -> ScanOut:
        raw = await self._redis.get(self._prefix + scan_id)
        if raw is None:
            raise NotFound("No such scan.")
        return ScanOut.model_validate_json(raw)

    async def wait(self) -> None:
        """Until every scan this process started has ended (for tests and shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.wait()

    async def _run(self, state: ScanOut, folder: Path) -> None:
        counts = {"done": 0, "total": 0}
        pace = Pace()

        def on_progress(done: int, total: int) -> None:
            counts.update(done=done, total=total)
            pace.saw(done)

        async def report() -> None:
            while True:
                await asyncio.sleep(REPORT_INTERVAL)
                await self._save(_with_counts(state, counts, pace))

        state.state = "running"
        await self._save(state)
        reporter = asyncio.create_task(report())
        try:
            scanner = LibraryScanner(self._catalog, self._enqueue(), on_play=self._on_play)
            summary = await scanner.scan(folder, on_progress)
        except asyncio.CancelledError:
            state.state, state.error = "failed", "The server stopped during the scan; start it again."
            raise
        except Exception as exc:
            log.exception("scan_failed", scan_id=state.id, path=str(folder))
            state.state, state.error = "failed", str(exc) or type(exc).__name__
        else:
            counts.update(done=summary.found, total=summary.found)
            state.state, state.summary = "done", _summary(summary)
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            state = _with_counts(state, counts, pace).model_copy(update={"finished_at": iso(utcnow())})
            # Shielded: a cancelled scan must still record that it ended.
            await asyncio.shield(self._save(state))

    async def _save(self, state: ScanOut) -> None:
        await self._redis.set(self._prefix + state.id, state.model_dump_json(), ex=STATE_TTL)


class Pace:
    """Files per second since the first progress report, and the time left at that pace."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[float, int] | None = None

    def saw(self, done: int) -> None:
        if self._first is None:
            self._first = (self._clock(), done)

    def figures(self, done: int, total: int) -> tuple[float | None, int | None]:
        """(files per second, seconds left), or Nones before there is a pace to speak of."""
        if self._first is None:
            return None, None
        began, first = self._first
        elapsed = self._clock() - began
        if elapsed <= 0 or done <= first:
            return None, None
        rate = (done - first) / elapsed
        return round(rate, 1), round(max(total - done, 0) / rate)


def _with_counts(state: ScanOut, counts: dict[str, int], pace: Pace) -> ScanOut:
    total = counts["total"]
    progress = 100 if state.state == "done" else (counts["done"] * 100 // total if total else 0)
    rate, left = pace.figures(counts["done"], total)
    return state.model_copy(
        update={**counts, "progress": progress, "files_per_second": rate, "eta_seconds": left}
    )


def _summary(summary: ScanSummary) -> ScanSummaryOut:
    return ScanSummaryOut(
        found=summary.found,
        added=summary.added,
        updated=summary.updated,
        unchanged=summary.unchanged,
        missing=summary.missing,
        restored=summary.restored,
        skipped=len(summary.skipped),
        skipped_files=[SkippedFile(path=_printable(p), reason=r) for p, r in summary.skipped[:SKIPPED_SHOWN]],
        queued=summary.queued,
        elapsed_ms=int(summary.elapsed_s * 1000),
    )


def _printable(path: str) -> str:
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _checked_folder(path: str, roots: tuple[Path, ...] = ()) -> Path:
    """The real path of an existing folder named by an absolute path, inside one of ``roots`` when any
    are configured; :class:`Invalid` otherwise. Blocking."""
    if not path or "\x00" in path or not os.path.isabs(path):
        raise Invalid(
            "Name the folder by its absolute path.", details={"fields": {"path": "must be an absolute path"}}
        )
    folder = Path(os.path.realpath(path))
    # The allowed folders first: outside them, whether a path exists or is a folder is not told.
    if roots and not any(folder == root or folder.is_relative_to(root) for root in roots):
        raise Invalid(
            "Scans from the console are limited to the library folders (HS_LIBRARY_FOLDERS).",
            code="scan_path_not_allowed",
            details={"fields": {"path": "outside the library folders"}},
        )
    if not folder.is_dir():
        reason = "is not a folder" if folder.exists() else "does not exist"
        raise Invalid(
            f"{path} {reason} on the server.", code="bad_scan_path", details={"fields": {"path": reason}}
        )
    return folder


def scans_ctx_factory(
    enqueue: Callable[[web.Application], Enqueue | None],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` that makes the app's :class:`ScanRunner` and cancels running scans at shutdown."""

    async def scans_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        runner = ScanRunner(
            app[keys.CATALOG],
            app[keys.REDIS],
            settings.redis_prefix,
            lambda: enqueue(app),
            roots=settings.scan_roots,
            on_play=settings.scans_on_play,
        )
        app[keys.SCANS] = runner
        yield
        await runner.stop()

    return scans_ctx
