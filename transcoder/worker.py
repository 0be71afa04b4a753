"""The transcoder worker: claims jobs, runs the pipeline into the media store, records the outcome.

One ``Worker`` is one consumer of the job stream with ``concurrency`` slots. A dispatcher claims an
entry whenever a slot is free; a heartbeat keeps the entries being worked on fresh (and notices when
another worker took one over, which then stops here). For each job: the record goes ``running``; the
pipeline writes ``hls/<track_id>/`` (replacing any earlier ladder atomically, so a job finished twice
still leaves one set of outputs); the track goes ``ready`` with its results, or ``failed`` with a
reason. Progress and outcome go out as ``track`` events to the uploader and ``library`` events to all.

Failures: bad input (:class:`media.errors.MediaError`, except a missing ffmpeg) fails at once; other
errors - storage, database or Redis trouble, a missing tool - are retried with exponential backoff up
to ``max_attempts``. A worker that dies mid-job counts as an attempt too, so a file that kills its
worker every time ends ``failed`` instead of looping.

No ``server``, no aiohttp: the caller hands in the queue, a ``TrackRecords`` and an ``EventPublisher``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from media.errors import MediaError, ToolMissing, ToolTimedOut
from media.events import LIBRARY, TRACK, EventName, EventPublisher
from media.fencing import ClaimLost, Fence
from media.layout import HLS_DIR, MediaLayout
from media.loudness import track_loudness
from media.publish import publish_ladder
from media.records import Job, Track
from media.storage import MediaStore, ObjectMissing, StorageError
from transcoder.albums import AlbumLoudness
from transcoder.pipeline import TranscodeResult, sweep_partial_ladders, transcode
from transcoder.queue import Delivery, JobQueue, is_missing_group
from transcoder.scratch import ScratchSpace
from transcoder.tracks import TrackRecords

log = structlog.get_logger("harmonystream.transcoder")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    media_root: Path
    concurrency: int = 0
    """Parallel transcodes; 0 = number of CPU cores."""
    poll_interval: float = 2.0
    """Longest wait for a new job before looking again for due retries and jobs of dead workers."""
    shutdown_grace: float = 20.0
    """On stop, seconds in-flight jobs get to finish before they are released to other workers."""
    progress_interval: float = 0.5
    progress_step: float = 5.0
    """A progress event goes out when this many seconds or percentage points passed since the last."""
    transcode_timeout: float | None = None
    """Limit of one ffmpeg pass; None = the pipeline's default (the track's duration plus a minute)."""
    bucket: MediaStore | None = None
    """The media store when media lives in a bucket: originals are fetched from it into ``scratch``,
    ladders published into it. None: files under ``media_root``."""
    scratch: Path | None = None
    """Where workers keep fetched originals and ladders on their way to the bucket; each worker uses a
    folder of its own below it and removes those of dead workers at start (``transcoder.scratch``)."""

    @property
    def slots(self) -> int:
        return self.concurrency if self.concurrency > 0 else os.cpu_count() or 1


class ProgressThrottle:
    """Lets a value through when enough time or enough progress passed since the last one let through."""

    def __init__(self, interval: float, step: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._step = step
        self._clock = clock
        self._last_time = float("-inf")
        self._last_value = float("-inf")

    def due(self, value: float) -> bool:
        now = self._clock()
        if now - self._last_time >= self._interval or value - self._last_value >= self._step:
            self._last_time, self._last_value = now, value
            return True
        return False


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt may succeed. Bad input and output that fails our checks will not."""
    if isinstance(exc, ToolMissing | ToolTimedOut):
        # An operator problem (installing ffmpeg fixes it) or a busy machine: not the file's fault.
        return True
    # Everything else that is not about the media (storage, database, Redis, timeouts, bugs) may pass.
    return not isinstance(exc, MediaError)


def human_reason(exc: BaseException) -> str:
    """A sentence for the track's ``error`` and the job record; never a path or a stack trace."""
    if isinstance(exc, MediaError):
        return exc.reason
    # Before OSError: both are OSError subclasses.
    if isinstance(exc, RedisError | PyMongoError | TimeoutError | ConnectionError):
        return "a service the transcoder needs did not answer"
    if isinstance(exc, StorageError):
        return "the media store did not answer"
    if isinstance(exc, OSError):
        return f"the media store could not be written ({exc.strerror or type(exc).__name__})"
    return f"an internal error stopped the transcode ({type(exc).__name__})"


@dataclass(slots=True)
class _Run:
    delivery: Delivery
    task: asyncio.Task[None] | None = None
    transcoding: bool = False
    """Only while the pipeline runs may a lost entry cancel the run; afterwards it finishes its writes."""
    lost: bool = False
    """Another worker took the entry over (this one looked dead)."""
    recording: bool = False
    """The transcode is over and its outcome is being written: ``stop`` lets it finish."""


class Worker:
    """Consumes the job queue until stopped. ``start``/``stop`` from a cleanup_ctx, or ``run`` from a CLI."""

    def __init__(
        self,
        queue: JobQueue,
        tracks: TrackRecords,
        events: EventPublisher,
        config: WorkerConfig,
        *,
        worker_id: str | None = None,
        albums: AlbumLoudness | None = None,
    ) -> None:
        self.queue = queue
        self.albums = albums
        """Album loudness, figured again as each track of an album gets ready (None: not kept)."""
        self.tracks = tracks
        self.events = events
        self.config = config
        self.layout = MediaLayout(config.media_root)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._runs: dict[str, _Run] = {}
        self._slots = asyncio.Semaphore(config.slots)
        self._dispatcher: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False
        self._heartbeat_stopped = False
        self._scratch: ScratchSpace | None = None
        self.log = log.bind(worker_id=self.worker_id)

    @property
    def busy(self) -> int:
        """Jobs in flight."""
        return len(self._runs)

    async def start(self) -> None:
        """Start claiming in the background. Redis need not be up yet: the dispatcher keeps trying."""
        # Ladders half-written by a process killed mid-transcode: those no live process holds.
        swept_ladders = await asyncio.to_thread(sweep_partial_ladders, self.layout.root / HLS_DIR)
        if swept_ladders:
            self.log.info("partial_ladders_swept", folders=swept_ladders)
        if self.config.bucket is not None:
            root = self.config.scratch or Path(tempfile.gettempdir()) / "harmonystream-jobs"
            self._scratch = ScratchSpace(root)
            swept = await asyncio.to_thread(self._scratch.claim)
            if swept:
                self.log.info("scratch_swept", folders=len(swept))
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"transcoder-dispatch-{self.worker_id}")
        self._heartbeat = asyncio.create_task(self._beat(), name=f"transcoder-heartbeat-{self.worker_id}")
        self.log.info("worker_started", slots=self.config.slots)

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; let in-flight jobs finish for ``grace`` seconds, then release the rest."""
        self._stopping = True
        await cancel_and_wait(self._dispatcher)
        runs = [r.task for r in self._runs.values() if r.task is not None]
        if runs:
            grace = self.config.shutdown_grace if grace is None else grace
            await asyncio.wait(runs, timeout=max(0.0, grace))
            for run in list(self._runs.values()):
                # A run recording its outcome is let finish: those writes take milliseconds, and
                # cutting them would make another worker redo a finished transcode.
                if run.task is not None and not run.recording:
                    run.task.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
        self._heartbeat_stopped = True
        await cancel_and_wait(self._heartbeat)
        if self._scratch is not None:
            await asyncio.to_thread(self._scratch.release)
        self.log.info("worker_stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then stop gracefully."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    # --- claiming and heartbeat --------------------------------------------------------------

    async def _dispatch(self) -> None:
        ready = False
        while not self._stopping:
            await self._slots.acquire()
            try:
                if not ready:
                    await self.queue.ensure_group()
                    await self.queue.forget_consumers()
                    ready = True
                delivery = await self.queue.claim(
                    self.worker_id, block=self.config.poll_interval, held=set(self._runs)
                )
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception as exc:
                # Redis or the database is away, or Redis restarted empty (NOGROUP): keep trying at
                # the poll pace, recreating the group, rather than dying.
                self._slots.release()
                ready = ready and not is_missing_group(exc)
                self.log.warning("claim_failed", error=repr(exc))
                await asyncio.sleep(self.config.poll_interval)
                continue
            if delivery is None:
                self._slots.release()
                continue
            run = _Run(delivery)
            self._runs[delivery.message_id] = run
            run.task = asyncio.create_task(self._guarded(run), name=f"transcode-{delivery.job_id}")

    async def _guarded(self, run: _Run) -> None:
        try:
            await self._handle(run)
        except asyncio.CancelledError:
            if not run.lost and self._stopping:
                await self._release(run)
        except Exception:
            # Recording the outcome failed (database or Redis away): the entry stays pending without
            # heartbeats, so after claim_timeout a worker takes it over and the job runs again.
            self.log.exception("job_crashed", job_id=run.delivery.job_id)
        finally:
            self._runs.pop(run.delivery.message_id, None)
            self._slots.release()

    async def _beat(self) -> None:
        while not self._heartbeat_stopped:
            await asyncio.sleep(self.queue.config.heartbeat_interval)
            held = set(self._runs)
            if not held:
                continue
            try:
                kept = await self.queue.heartbeat(self.worker_id, held)
            except Exception:
                self.log.exception("heartbeat_failed")
                continue
            for message_id in held - kept:
                run = self._runs.get(message_id)
                if run is not None and run.transcoding and run.task is not None:
                    self.log.warning("job_taken_over", job_id=run.delivery.job_id)
                    run.lost = True
                    run.task.cancel()

    async def _release(self, run: _Run) -> None:
        """Hand a job that was cut short by ``stop`` back to the queue (shielded: we are cancelled)."""
        d = run.delivery

        async def release() -> None:
            await self.queue.jobs.release(d.job_id, self.worker_id)
            await self.queue.release(self.worker_id, [d.message_id])

        try:
            await asyncio.shield(release())
            self.log.info("job_released", job_id=d.job_id)
        except Exception:
            self.log.exception("release_failed", job_id=d.job_id)

    # --- one job -----------------------------------------------------------------------------

    async def _handle(self, run: _Run) -> None:
        d = run.delivery
        jobs = self.queue.jobs
        job = await jobs.start(d.job_id, self.worker_id, d.message_id) if d.job_id else None
        if job is None:
            # Done, failed, started through another entry, or unknown: this entry is stale.
            await self.queue.ack(d.message_id)
            return
        logger = self.log.bind(job_id=d.job_id, track_id=d.track_id, attempt=job.attempts)
        track = await self.tracks.get(d.track_id)
        if track is None:
            await self._settle_failed(d, "the track no longer exists", owner=None, track_exists=False)
            return
        refreshing = job.refresh and track.status == "ready"
        if track.status != "processing" and not refreshing:
            await self._settle_untouched(d, track)
            return
        owner = track.owner_id
        if job.attempts > job.max_attempts:
            reason = f"transcoding was interrupted {job.attempts - 1} times without finishing"
            await self._settle_failed(d, reason, owner=owner)
            return
        started = time.monotonic()
        logger.info("job_started", taken_over=d.taken_over)
        attempt = job.attempts
        fence = Fence(
            await self.tracks.next_generation(d.track_id),
            lambda: jobs.holds(d.job_id, self.worker_id, attempt),
        )
        try:
            async with self._workspace(d, track) as (original, out_dir):
                run.transcoding = True
                result = await transcode(
                    original,
                    out_dir,
                    on_progress=self._progress_callback(d.track_id, owner),
                    timeout=self.config.transcode_timeout,
                    # Local ladders are swapped in by the pipeline; a bucket's by _results.
                    fence=fence if self.config.bucket is None else None,
                )
                run.transcoding = False
                run.recording = True
                results = await self._results(d.track_id, result, out_dir, fence)
                blocks = result.loudness_blocks
        except asyncio.CancelledError:
            raise
        except ClaimLost as exc:
            # Taken over while we worked (we were frozen, or cut off): the job and its message are
            # another worker's now; it publishes, records and acknowledges.
            logger.warning("job_taken_over", reason=str(exc))
            return
        except Exception as exc:
            run.transcoding, run.recording = False, True
            await self._after_failure(d, job, exc, owner=owner, logger=logger)
            return
        if not await fence.holds():
            # Published before the take-over, but the job is the other worker's to record now.
            logger.warning("job_taken_over", reason="the claim was taken over after the publish")
            return
        if blocks is not None and self.albums is not None:
            # Before the track is ready: whoever figures its album next must find them.
            await self.albums.save_blocks(d.track_id, blocks)
        if refreshing:
            doc = await self.tracks.refresh_ready(d.track_id, results)
        else:
            doc = await self.tracks.mark_ready(d.track_id, results)
        if doc is None and await self.tracks.get(d.track_id) is None:
            # Deleted while we worked: what we just wrote must not stay behind.
            await asyncio.to_thread(self.layout.remove_track, d.track_id)
            if self.albums is not None:
                await self.albums.forget(d.track_id)
        if doc is not None and self.albums is not None:
            await self.albums.refresh(doc.album_id)
        await jobs.finish(d.job_id, self.worker_id, elapsed_s=time.monotonic() - started)
        if doc is not None:
            await self._emit_track(d.track_id, owner, "ready", 100, None)
            await self._emit(LIBRARY, {"kind": "track", "id": d.track_id, "action": "updated"}, None)
        await self.queue.ack(d.message_id)
        logger.info("job_done", elapsed_s=round(time.monotonic() - started, 2))

    async def _after_failure(
        self, d: Delivery, job: Job, exc: Exception, *, owner: str | None, logger: Any
    ) -> None:
        reason = human_reason(exc)
        attempts = job.attempts
        if is_transient(exc) and attempts < job.max_attempts:
            delay = self.queue.backoff(attempts)
            logger.warning("job_retry", reason=reason, delay_s=delay, error=repr(exc))
            if await self.queue.jobs.retry_later(d.job_id, self.worker_id, reason, self.queue.due_at(delay)):
                await self.queue.defer(d, delay)
            return
        if is_transient(exc):
            reason = f"{reason}; gave up after {attempts} attempts"
        logger.warning("job_failed", reason=reason, error=repr(exc))
        await self._settle_failed(d, reason, owner=owner)

    async def _settle_failed(
        self, d: Delivery, reason: str, *, owner: str | None, track_exists: bool = True
    ) -> None:
        owned = await self.queue.jobs.fail(d.job_id, self.worker_id, reason)
        if owned and track_exists and await self.tracks.mark_failed(d.track_id, reason) is not None:
            await self._emit_track(d.track_id, owner, "failed", 0, reason)
            await self._emit(LIBRARY, {"kind": "track", "id": d.track_id, "action": "updated"}, None)
        await self.queue.ack(d.message_id)

    async def _settle_untouched(self, d: Delivery, track: Track) -> None:
        """The track is no longer waiting (an earlier run finished it): close the job to match."""
        if track.status == "ready":
            await self.queue.jobs.finish(d.job_id, self.worker_id, elapsed_s=0.0)
        else:
            reason = track.error or "the track is not waiting for a transcode"
            await self.queue.jobs.fail(d.job_id, self.worker_id, reason)
        await self.queue.ack(d.message_id)

    def _original_path(self, track: Track) -> Path:
        if track.original is None or not track.original.has_file:
            raise MediaError("the track has no original file")
        # Scanned files are referenced in place by absolute path; uploads live under the media root.
        path = track.original.path
        return Path(path) if track.original.in_place else self.layout.resolve(path)

    @asynccontextmanager
    async def _workspace(self, d: Delivery, track: Track) -> AsyncIterator[tuple[Path, Path]]:
        """(the original to read, the folder to transcode into) for this job.

        Local media: the original where it lies and the track's ladder folder (the pipeline swaps the
        new ladder in by rename). Media in a bucket: the original fetched into a folder of this job's
        own, and a ladder folder beside it that :meth:`_results` publishes; the folder goes at the end.
        """
        bucket = self.config.bucket
        if bucket is None:
            yield self._original_path(track), self.layout.hls_dir(d.track_id)
            return
        if track.original is None or not track.original.has_file:
            raise MediaError("the track has no original file")
        assert self._scratch is not None, "start() claims the scratch folder"
        work = Path(
            await asyncio.to_thread(tempfile.mkdtemp, prefix=f"job-{d.track_id}-", dir=self._scratch.folder)
        )
        try:
            if track.original.in_place:
                original = Path(track.original.path)
            else:
                original = work / Path(track.original.path).name
                try:
                    await bucket.fetch(track.original.path, original)
                except ObjectMissing:
                    # Gone for good (deleted, or never stored): another attempt would find it gone too.
                    raise MediaError("the original is missing from the media store") from None
            yield original, work / "hls"
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _results(
        self, track_id: str, result: TranscodeResult, out_dir: Path, fence: Fence
    ) -> dict[str, Any]:
        results: dict[str, Any] = {
            "duration_ms": result.duration_ms,
            "renditions": [r.as_dict() for r in result.renditions],
            "loudness": track_loudness(result.loudness_lufs, result.true_peak_dbtp, result.loudness_range_lu),
            "gapless": result.gapless.as_dict() if result.gapless else None,
        }
        bucket = self.config.bucket
        if bucket is not None:
            await publish_ladder(bucket, out_dir, track_id, fence=fence)
        if result.cover_path is not None and not await self._has_cover(track_id):
            if bucket is not None:
                key = self.layout.relative(self.layout.cover_path(track_id))
                await bucket.put_file(key, result.cover_path)
                results["cover"] = key
            else:
                cover = await asyncio.to_thread(self.layout.install_cover, track_id, result.cover_path)
                results["cover"] = self.layout.relative(cover)
        return results

    async def _has_cover(self, track_id: str) -> bool:
        """Whether the track already shows a cover: one its artist uploaded (also while we transcoded)
        wins over the one embedded in the file. Checked as late as possible: an upload landing in the
        few milliseconds between this read and our copy would still lose."""
        track = await self.tracks.get(track_id)
        return bool(track and track.cover)

    # --- events ------------------------------------------------------------------------------

    def _progress_callback(self, track_id: str, owner: str | None) -> Callable[[float], Any]:
        throttle = ProgressThrottle(self.config.progress_interval, self.config.progress_step)

        async def on_progress(percent: float) -> None:
            # 100 is announced by the "ready" event, once the track says so too.
            if percent >= 100 or not throttle.due(percent):
                return
            value = int(percent)
            try:
                await self.tracks.set_progress(track_id, value)
            except Exception:
                # A missed progress write must not kill ffmpeg (the pipeline stops when this raises).
                self.log.warning("progress_write_failed", track_id=track_id)
            await self._emit_track(track_id, owner, "processing", value, None)

        return on_progress

    async def _emit_track(
        self, track_id: str, owner: str | None, status: str, progress: int, error: str | None
    ) -> None:
        payload = {"id": track_id, "status": status, "progress": progress, "error": error}
        if owner:
            await self._emit(TRACK, payload, owner)

    async def _emit(self, event: EventName, payload: dict, user_id: str | None) -> None:
        try:
            await self.events.publish(event, payload, user_id=user_id)
        except Exception:
            # Events are for display; a missed one never changes what the job did.
            self.log.warning("event_publish_failed", event_name=event)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it ended, cancelling again every second meanwhile.

    A library deep down that catches a cancellation (and carries on) must not hang a shutdown; the
    loops here also check a stop flag for the same reason.
    """
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if task is not None and not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()  # retrieved, so asyncio does not log it as never retrieved
