"""Ladders made on play (``HS_SCAN_LADDERS=on-play``): prepared when a track's media URLs are first asked
for, each segment made when a player first asks for it.

The ladder lives where an eager one does (``hls/<track>/``), so every file that exists is served by the
usual path — the segment lane, nginx's offload, ranges, caching. Only a segment that is not there yet
comes here: :class:`OnPlayLadders` makes it with one encoder run (``media.onplay``) and answers once its
file is in place. A run goes on to the next segments while a player is likely to want them (up to
``AHEAD`` past the furthest one asked of it), then stops; a request further on, or a seek, starts another
run at that segment unless a running one will reach it within ``REACH`` segments. Every segment is
written to a temp file and renamed into place, so a reader never sees half of one, and a segment two
runs made is the same frames either way (whichever rename lands last wins).

Server processes on one machine (``serve --workers N``) share the runs through claim files: a run holds
``<rung>/.run-<start>.lock`` under an exclusive ``flock`` for its life and writes its progress there, so a
request another process's run will reach soon waits for the file instead of starting a second run. The
kernel drops a dead process's lock, and its claim is then ignored and removed. Servers on other machines
(media in a bucket) do not make ladders on play yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import structlog

from media.errors import MediaError
from media.ffmpeg import analyse
from media.gapless import AAC_FRAME, Gapless
from media.ladder import DEFAULT_LADDER, Ladder
from media.layout import MASTER_PLAYLIST, MediaLayout, segment_name
from media.loudness import track_loudness
from media.onplay import OnPlaySource, prepare, segments_from
from media.records import Track
from server.delivery.ladder_cache import LadderCache
from server.errors import ServiceUnavailable

log = structlog.get_logger("harmonystream.onplay")

AHEAD = 4
"""Segments a run makes past the furthest one asked of it before it stops (24 s of music)."""
REACH = 2
"""A request at most this many segments past where a running run is waits for it."""
BACKGROUND_NICENESS = 10
"""The loudness analysis runs at this ``nice`` level: first plays and seeks come before it."""
WAIT_S = 30.0
"""How long a segment request waits for its segment before answering 503."""
_SEGMENT_RE = re.compile(r"^([A-Za-z0-9_-]{1,32})/seg_(\d{5})\.m4s$")


@dataclass(eq=False)
class _Run:
    next: int
    wanted: int
    error: BaseException | None = None
    done: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


LoudnessSink = Callable[[str, dict[str, float | None]], Awaitable[object]]
"""Receives (track id, its ``loudness`` object) once the background analysis measured it."""


class OnPlayLadders:
    def __init__(
        self,
        layout: MediaLayout,
        *,
        ladder: Ladder = DEFAULT_LADDER,
        wait_s: float = WAIT_S,
        on_loudness: LoudnessSink | None = None,
        analysis_concurrency: int = 1,
        cache: LadderCache | None = None,
    ) -> None:
        """``on_loudness``: where the loudness of a prepared track goes, measured in the background by
        at most ``analysis_concurrency`` decodes at a time (the first play does not wait for it).
        ``cache``: the budget the segments made here are kept within."""
        self._layout = layout
        self.cache = cache
        self._ladder = ladder
        self._wait_s = wait_s
        self._on_loudness = on_loudness
        self._concurrency = max(1, analysis_concurrency)
        self._later: deque[Callable[[], Awaitable[None]]] = deque()
        self._background: set[asyncio.Task[None]] = set()
        self._preparing: dict[str, asyncio.Lock] = {}
        self._runs: dict[tuple[str, str], list[_Run]] = {}
        self._changed = asyncio.Condition()

    def prepare_later(self, tracks: list[Track]) -> int:
        """Prepare these tracks' ladders in the background (an admin's "prepare ahead"), at most
        ``analysis_concurrency`` at a time at ``nice`` 10, so that their first plays need no decode;
        how many were queued (tracks not made on play are left out). A whole library is one queue,
        not a task per track."""
        chosen = [t for t in tracks if t.on_play]
        for track in chosen:
            self._later.append(partial(self._prepare_quietly, track))
        self._work_later()
        return len(chosen)

    @property
    def pending(self) -> int:
        """Background preparations and analyses not finished yet."""
        return len(self._later) + len(self._background)

    def _work_later(self) -> None:
        """Start background workers up to the concurrency while there is queued work."""
        while self._later and len(self._background) < self._concurrency:
            task = asyncio.create_task(self._drain())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _drain(self) -> None:
        while self._later:
            job = self._later.popleft()
            await job()

    async def _prepare_quietly(self, track: Track) -> None:
        with contextlib.suppress(ServiceUnavailable):  # logged by prepare; a play tries again
            await self.prepare(track, niceness=BACKGROUND_NICENESS)

    async def prepare(self, track: Track, *, niceness: int = 0) -> None:
        """Make sure the ladder of an on-play track is prepared (playlists and init segments); a no-op
        for every other track and once it is. :class:`ServiceUnavailable` when it cannot be made now."""
        if not track.on_play or track.original is None or not track.original.has_file:
            return
        hls_dir = self._layout.hls_dir(track.id)
        if self.cache is not None and not niceness:  # a play, not a preparation ahead of one
            self.cache.used(track.id)
        if await asyncio.to_thread((hls_dir / MASTER_PLAYLIST).is_file):
            return
        lock = self._preparing.setdefault(track.id, asyncio.Lock())
        try:
            async with lock:
                if await asyncio.to_thread((hls_dir / MASTER_PLAYLIST).is_file):
                    return
                prepared = await prepare(
                    Path(track.original.path), hls_dir, ladder=self._ladder, niceness=niceness
                )
                log.info("onplay_prepared", track_id=track.id, segments=len(prepared.plan.segment_frames))
                if self._on_loudness is not None and track.loudness is None:
                    self._later.append(partial(self._measure, track.id, prepared.description))
                    self._work_later()
        except MediaError as exc:
            log.warning("onplay_prepare_failed", track_id=track.id, error=str(exc))
            raise ServiceUnavailable("ladder") from exc
        finally:
            if not lock.locked():
                self._preparing.pop(track.id, None)

    async def _measure(self, track_id: str, source: OnPlaySource) -> None:
        """The loudness of a prepared track, handed to ``on_loudness``; a failure is logged and left."""
        assert self._on_loudness is not None
        try:
            analysis = await analyse(
                Path(source.source), source.sample_rate, loudness=True, niceness=BACKGROUND_NICENESS
            )
            measured = analysis.loudness
            loudness = (
                track_loudness(measured.integrated_lufs, measured.true_peak_dbtp, measured.range_lu)
                if measured
                else None
            )
            if loudness is not None:
                await self._on_loudness(track_id, loudness)
        except Exception as exc:  # the track plays without; a later prepare does not retry it
            log.warning("onplay_loudness_failed", track_id=track_id, error=str(exc))

    async def segment(self, track_id: str, subpath: str) -> bool:
        """Make the segment ``subpath`` names if it belongs to a ladder made on play and is missing;
        False when it is not such a segment (the caller's 404 stands)."""
        found = _SEGMENT_RE.match(subpath)
        if found is None:
            return False
        rung_name, index = found.group(1), int(found.group(2))
        hls_dir = self._layout.hls_dir(track_id)
        # Read each time (a few hundred bytes): another process may have prepared the ladder again.
        source = await asyncio.to_thread(OnPlaySource.read, hls_dir)
        if source is None or rung_name not in source.rungs:
            return False
        plan = source.plan()
        if index >= len(plan.segment_frames):
            return False
        path = hls_dir / subpath
        key = (track_id, rung_name)
        if self.cache is not None:
            await self.cache.open()
            self.cache.used(track_id)
        try:
            async with asyncio.timeout(self._wait_s):
                while not await asyncio.to_thread(path.is_file):
                    run = self._covering(key, index)
                    if run is None:
                        others = await asyncio.to_thread(_other_runs, hls_dir / rung_name)
                        if any(n <= index <= n + REACH for n in others):
                            await asyncio.sleep(OTHER_RUN_POLL_S)  # another process makes it
                            continue
                        run = self._start(key, source, hls_dir, index)
                        if run is None:  # another process claimed this very start a moment ago
                            await asyncio.sleep(OTHER_RUN_POLL_S)
                            continue
                    run.wanted = max(run.wanted, index)
                    if run.error is not None and run.next <= index:
                        raise ServiceUnavailable("ladder") from run.error
                    async with self._changed:
                        if not run.done and run.next <= index:
                            await self._changed.wait()
        except TimeoutError:
            raise ServiceUnavailable("ladder") from None
        return True

    async def complete(self, track_id: str, rung: str, offset_s: float = 0.0) -> Gapless | None:
        """Make every segment of ``rung`` from the one holding ``offset_s`` of the music to the end (for
        a progressive stream of the rung); the ladder's gapless figures (None: not made on play).
        :class:`ServiceUnavailable` when a segment cannot be made now."""
        source = await asyncio.to_thread(OnPlaySource.read, self._layout.hls_dir(track_id))
        if source is None:
            return None
        plan = source.plan()
        # Segments are cut on the rung's own timeline, which starts with what the edit list trims.
        at = offset_s + plan.gapless.priming_samples / plan.sample_rate
        starts = [plan.first_frame(i) * AAC_FRAME / plan.sample_rate for i in range(len(plan.segment_frames))]
        first = max([i for i, start in enumerate(starts) if start <= at] or [0])
        for index in range(first, len(starts)):
            await self.segment(track_id, f"{rung}/{segment_name(index)}")
        return plan.gapless

    def _busy(self, track_id: str) -> bool:
        """Whether a run of any rung of the track is going."""
        return any(key[0] == track_id and runs for key, runs in self._runs.items())

    def _covering(self, key: tuple[str, str], index: int) -> _Run | None:
        for run in self._runs.get(key, []):
            if not run.done and run.next <= index <= run.next + REACH:
                return run
        return None

    def _start(self, key: tuple[str, str], source: OnPlaySource, hls_dir: Path, index: int) -> _Run | None:
        """A run of the rung from segment ``index``, claimed for this process; None when another
        process holds that claim."""
        claim = _claim_run(hls_dir / key[1], index)
        if claim is None:
            return None
        run = _Run(next=index, wanted=index)
        self._runs.setdefault(key, []).append(run)
        run.task = asyncio.create_task(
            self._make(key, run, source, hls_dir / key[1], claim), name=f"onplay-{key}"
        )
        return run

    async def _make(
        self, key: tuple[str, str], run: _Run, source: OnPlaySource, rung_dir: Path, claim: _Claim
    ) -> None:
        rung = self._ladder.rung(key[1])
        segments = segments_from(
            Path(source.source), source.plan(), rung, run.next, edges=source.edges, tail_from=source.tail_from
        )
        try:
            async with contextlib.aclosing(segments):
                async for index, data in segments:
                    await asyncio.to_thread(_write_atomically, rung_dir / segment_name(index), data)
                    if self.cache is not None:
                        await self.cache.added(key[0], len(data), self._busy)
                    run.next = index + 1
                    claim.progress(run.next)
                    async with self._changed:
                        self._changed.notify_all()
                    if run.next > run.wanted + AHEAD:
                        break  # nobody asked this far yet: the next request starts here again
        except Exception as exc:
            log.warning(
                "onplay_segment_failed", track_id=key[0], rung=key[1], segment=run.next, error=str(exc)
            )
            run.error = exc
        finally:
            claim.release()
            run.done = True
            runs = self._runs.get(key, [])
            if run in runs:
                runs.remove(run)
            if not runs:
                self._runs.pop(key, None)
            async with self._changed:
                self._changed.notify_all()

    async def close(self) -> None:
        """Stop every run (at shutdown)."""
        tasks = [r.task for runs in self._runs.values() for r in runs if r.task is not None]
        self._later.clear()
        tasks += list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


OTHER_RUN_POLL_S = 0.05
"""How often a request waiting for another process's run looks for its segment."""
_RUN_LOCK = ".run-{:05d}.lock"


class _Claim:
    """A run's claim, seen by the other server processes on this machine: ``<rung>/.run-<start>.lock``,
    held under an exclusive ``flock`` while the run lives (the kernel drops it if the process dies),
    holding the next segment the run will write."""

    def __init__(self, path: Path, fd: int) -> None:
        self._path, self._fd = path, fd

    def progress(self, next_index: int) -> None:
        # Fixed width, written in place: a reader never finds the file empty between a truncate and a
        # write (it did, and took a live run for none).
        os.pwrite(self._fd, f"{next_index:010d}".encode(), 0)

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        os.close(self._fd)  # the lock goes with it


def _claim_run(rung_dir: Path, start: int) -> _Claim | None:
    """Claim the run of ``rung_dir`` from segment ``start``; None when another process holds it."""
    path = rung_dir / _RUN_LOCK.format(start)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # the ladder went (a rescan, an eviction of the whole folder)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    claim = _Claim(path, fd)
    claim.progress(start)
    return claim


def _other_runs(rung_dir: Path) -> list[int]:
    """The next segments of the runs other processes are making in ``rung_dir`` (claims whose lock is
    held); a claim nobody holds is left from a process that died, and goes."""
    found: list[int] = []
    for path in rung_dir.glob(".run-*.lock"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 16, 0).decode(errors="replace").strip()
            if text.isdigit():
                found.append(int(text))
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        finally:
            os.close(fd)
    return found


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
