"""The transcode pipeline: one original in, one published HLS ladder directory out.

probe → the ffmpeg passes (every rung, split over two cores, + the loudness meter; see
:func:`ladder_passes`) → name the init segments and write the master playlist from measured sizes →
check nothing was lost (truncation) → mark the gapless trim in each init segment → extract the cover →
validate the ladder → publish the directory atomically.

Everything is written into a temp directory beside ``out_dir`` (same filesystem, so the final
``os.rename`` is atomic) and only renamed into place once it validates; on any failure, cancellation
included, the temp directory is removed. Readers therefore see either the previous complete ladder or
the new complete ladder, never a half-written one.

A process killed mid-transcode cannot remove its temp directory, so each one is held under an
exclusive ``flock`` by its transcode, taken before the directory gets its ``.tmp-`` name (it is made
as ``.new-`` and renamed once locked); a ladder being set aside (``.old-``) is locked before it is
renamed too. The kernel drops the lock when the process dies, even by SIGKILL: :func:`sweep_partial_ladders`
(at every worker start) and each new attempt remove exactly the directories nobody holds, at once,
and never one a live transcode on this machine is writing.

No database, no Redis, no aiohttp: the worker (``transcoder/worker.py``) calls :func:`transcode` and
records the result; progress goes out through ``on_progress``.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media import commands
from media.errors import MediaError, NotAudio, TranscodeFailed
from media.fencing import GENERATION_FILE, Fence
from media.ffmpeg import (
    FfmpegRun,
    ProbeResult,
    ProgressCallback,
    call_progress,
    extract_cover,
    parse_ebur128_summary,
    parse_sample_count,
    run_ffmpeg,
)
from media.ffmpeg import probe as probe_file
from media.gapless import (
    FFMPEG_AAC_PRIMING,
    Gapless,
    Mp4Error,
    edges_for,
    encoded_frames,
    trailing_samples,
    write_edit_list,
)
from media.hls import RenditionStats, normalise_init_segment, validate_ladder, write_master
from media.ladder import DEFAULT_LADDER, Ladder, Rung
from media.layout import INIT_SEGMENT, MEDIA_PLAYLIST
from media.loudness import BlockHistogram, session_data, track_loudness
from media.playlists import read_media_playlist

log = logging.getLogger(__name__)

COVER_NAME = "cover.jpg"
"""Embedded cover, written inside the output directory (the worker may copy it to covers/<id>.jpg)."""
NEW_STALE_AFTER_S = 3600
"""A ``.new-`` directory (made, not yet locked and renamed: microseconds) this old was left by a crash."""
_TRUNCATION_MIN_S = 1.0
_TRUNCATION_SHARE = 0.05
# Share of the progress scale each stage owns; the ffmpeg pass is nearly all of the work.
_FFMPEG_START, _FFMPEG_END, _FINALISED, _COVERED = 2.0, 95.0, 97.0, 99.0


@dataclass(frozen=True, slots=True)
class Rendition:
    """One rung as produced: nominal ``bitrate`` and the measured bandwidths (bit/s) of the files."""

    name: str
    codec: str
    bitrate: int
    average_bandwidth: int
    peak_bandwidth: int

    def as_dict(self) -> dict[str, Any]:
        """The shape stored in ``tracks.renditions``."""
        return {
            "name": self.name,
            "codec": self.codec,
            "bitrate": self.bitrate,
            "average_bandwidth": self.average_bandwidth,
            "peak_bandwidth": self.peak_bandwidth,
        }


@dataclass(frozen=True, slots=True)
class TranscodeResult:
    duration_ms: int
    renditions: tuple[Rendition, ...]
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    cover_path: Path | None
    sample_rate: int
    segment_count: int
    probe: ProbeResult
    elapsed_s: float
    loudness_range_lu: float | None = None
    loudness_blocks: BlockHistogram | None = None
    """The 400 ms gating blocks' loudness, for the album's figure."""
    gapless: Gapless | None = None
    """Priming and padding around the music in every rung (signalled in each init segment's edit list);
    None when the pass did not report its sample count."""


async def transcode(
    original: Path,
    out_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
    ladder: Ladder = DEFAULT_LADDER,
    timeout: float | None = None,  # noqa: ASYNC109 - becomes TranscodeFailed, see run_ffmpeg
    probed: ProbeResult | None = None,
    fence: Fence | None = None,
) -> TranscodeResult:
    """Transcode ``original`` into the HLS ladder at ``out_dir`` (replaced atomically if it exists).

    ``on_progress`` receives increasing percentages ending at 100. ``timeout`` bounds the ffmpeg pass
    (default: one minute plus the track's duration, i.e. it must run at least at real time).
    ``probed`` skips the probe when the caller already has it. Raises :class:`NotAudio` for input that
    is not (complete) audio - retrying will not help - and :class:`TranscodeFailed` when ffmpeg or
    the checks of its output fail. Nothing is left behind on failure.
    """
    started = time.monotonic()
    original, out_dir = _absolute(original), _absolute(out_dir)
    progress = _MonotonicProgress(on_progress)
    info = probed or await probe_file(original)
    await progress(_FFMPEG_START)
    sample_rate = ladder.sample_rate_for(info.sample_rate)
    await asyncio.to_thread(_remove_stale_siblings, out_dir)
    work, held = await asyncio.to_thread(_make_work, out_dir)
    edges, tail_from = edges_for(info.duration_ms, info.duration_estimated, sample_rate)
    # The meter's blocks go to a temp file of their own (not into the ladder that gets published).
    handle, name = await asyncio.to_thread(tempfile.mkstemp, prefix="hs-blocks-", suffix=".txt")
    os.close(handle)
    blocks_file = Path(name)
    limit = timeout if timeout is not None else 60.0 + info.duration_ms / 1000
    try:
        # The first pass also measures (loudness, blocks, sample count) and reports progress.
        passes = []
        for i, rungs in enumerate(ladder_passes(ladder)):
            argv = commands.hls_ladder_argv(
                original, info.source, ladder, sample_rate, measure_loudness=i == 0, edges=edges,
                tail_from=tail_from, rungs=rungs, blocks_file=blocks_file if i == 0 else None,
            )  # fmt: skip
            passes.append(
                run_ffmpeg(
                    argv,
                    duration_ms=info.duration_ms,
                    on_progress=(lambda p: progress(_FFMPEG_START + p * (_FFMPEG_END - _FFMPEG_START) / 100))
                    if i == 0
                    else None,
                    timeout=limit,
                    cwd=work,
                )
            )
        try:
            async with asyncio.TaskGroup() as group:  # one failing pass cancels the others
                tasks = [group.create_task(p) for p in passes]
        except BaseExceptionGroup as failed:
            # The first failure says why (the others were cancelled because of it).
            raise failed.exceptions[0] from None
        run = tasks[0].result()
        blocks = BlockHistogram.from_metadata(await asyncio.to_thread(blocks_file.read_text, "utf-8"))
        loudness = parse_ebur128_summary(run.stderr_tail)
        session = session_data(
            track_loudness(loudness.integrated_lufs, loudness.true_peak_dbtp, loudness.range_lu)
            if loudness
            else None
        )
        stats = await asyncio.to_thread(_finalise, work, ladder, session)
        decoded_s = stats[0].duration_s
        _check_complete(info, decoded_s)
        gapless = await asyncio.to_thread(_signal_gapless, work, ladder, sample_rate, run, edges, tail_from)
        await progress(_FINALISED)
        has_cover = info.has_cover and await _try_cover(original, work / COVER_NAME)
        await progress(_COVERED)
        problems = await asyncio.to_thread(validate_ladder, work)
        if problems:
            raise TranscodeFailed("the HLS output failed validation: " + "; ".join(problems[:3]))
        if fence is None:
            await asyncio.to_thread(_publish, work, out_dir)
        else:
            await _publish_fenced(work, out_dir, fence)
    except BaseException:
        # Synchronous on purpose: this also runs on cancellation, where awaiting is unreliable; the
        # directory holds a few hundred files at most.
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        os.close(held)  # the lock goes with it (the directory is published or removed by now)
        blocks_file.unlink(missing_ok=True)  # noqa: ASYNC240 - one unlink, also on cancellation (above)
    await progress(100.0)
    if loudness is None:
        log.warning("no loudness summary from ffmpeg", extra={"original": original.name})
    return TranscodeResult(
        # The probe's duration is the file's own; when it was only estimated, what decoded is better.
        duration_ms=_decoded_ms(gapless, decoded_s) if info.duration_estimated else info.duration_ms,
        renditions=tuple(
            Rendition(
                s.name,
                ladder.rung(s.name).codec,
                ladder.rung(s.name).bitrate,
                s.average_bandwidth,
                s.peak_bandwidth,
            )
            for s in stats
        ),
        loudness_lufs=loudness.integrated_lufs if loudness else None,
        true_peak_dbtp=loudness.true_peak_dbtp if loudness else None,
        loudness_range_lu=loudness.range_lu if loudness else None,
        loudness_blocks=blocks if blocks.counts else None,
        gapless=gapless,
        cover_path=out_dir / COVER_NAME if has_cover else None,
        sample_rate=sample_rate,
        segment_count=stats[0].segment_count,
        probe=info,
        elapsed_s=time.monotonic() - started,
    )


def ladder_passes(ladder: Ladder, cores: int | None = None) -> list[tuple[Rung, ...]]:
    """The rungs each ffmpeg pass encodes. ffmpeg 5.1 runs all encoders of one process on one thread,
    so with two cores or more the ladder is split in two passes run side by side: the lowest rung
    (twoloop, the costliest per bit) with the meters, and the rest. Each pass decodes the source
    once more, which costs far less than the encoders it takes off the other core."""
    cores = cores or os.cpu_count() or 1
    if cores < 2 or len(ladder.rungs) < 2:
        return [ladder.rungs]
    return [ladder.rungs[:1], ladder.rungs[1:]]


def _absolute(path: Path) -> Path:
    # Only getcwd() and string work: not worth a thread, even though the linter cannot tell.
    return Path(os.path.abspath(path))


class _MonotonicProgress:
    """Forwards only increasing values, so stages can report without knowing what was sent before."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._last = -1.0

    async def __call__(self, percent: float) -> None:
        percent = round(min(100.0, max(0.0, percent)), 1)
        if percent > self._last:
            self._last = percent
            await call_progress(self._callback, percent)


def _finalise(work: Path, ladder: Ladder, session: tuple[tuple[str, str], ...]) -> list[RenditionStats]:
    """Blocking: give init segments their layout name, then write the master playlist from measurements
    (carrying the track's gain as session data)."""
    names = [rung.name for rung in ladder.rungs]
    for name in names:
        normalise_init_segment(work / name)
    return write_master(work, names, session_data=session)


def _signal_gapless(
    work: Path, ladder: Ladder, sample_rate: int, run: FfmpegRun, edges: int, tail_from: int | None
) -> Gapless | None:
    """Blocking: measure priming and padding of every rung and write them into its init segment's edit
    list (:mod:`media.gapless`). The rungs encode the same samples into the same frames, so they agree;
    a rung that does not is a bug worth a failed transcode rather than a ladder that plays unevenly."""
    # What comes before the music: the encoder's own priming, then the mirrored head.
    priming = FFMPEG_AAC_PRIMING + edges
    source = parse_sample_count(run.stderr_tail, channels=2)  # the graph makes every rung stereo
    if not source:
        log.warning("no gapless bookkeeping: the pass did not report its sample count")
        return None
    # What comes after it: the mirrored tail (from tail_from to the end), then the encoder's padding.
    trailing = trailing_samples(source, edges, tail_from)
    found: Gapless | None = None
    for rung in ladder.rungs:
        rung_dir = work / rung.name
        init = rung_dir / INIT_SEGMENT
        segments = [rung_dir / s.uri for s in read_media_playlist(rung_dir / MEDIA_PLAYLIST).segments]
        try:
            frames = encoded_frames(segments)
            gapless = Gapless.measured(sample_rate, priming, source, frames, trailing)
            write_edit_list(init, gapless)
        except Mp4Error as exc:
            raise TranscodeFailed(f"the {rung.name} rung cannot be made gapless: {exc}") from exc
        if found is not None and gapless != found:
            raise TranscodeFailed(f"the {rung.name} rung holds {frames} frames, unlike the others")
        found = gapless
    return found


def _decoded_ms(gapless: Gapless | None, decoded_s: float) -> int:
    if gapless is not None:
        return gapless.source_samples * 1000 // gapless.sample_rate
    return round(decoded_s * 1000)


def _check_complete(info: ProbeResult, decoded_s: float) -> None:
    """Fail when far less decoded than the file declares: a truncated upload must not become 'ready'.

    ffmpeg decodes a truncated MP3 up to the cut and exits 0, so only the durations tell. Skipped when
    the declared duration was itself estimated from the bitrate (it can be off by several percent).
    """
    if decoded_s <= 0:
        raise NotAudio("no audio could be decoded from the file")
    declared_s = info.duration_ms / 1000
    if info.duration_estimated:
        return
    if declared_s - decoded_s > max(_TRUNCATION_MIN_S, _TRUNCATION_SHARE * declared_s):
        raise NotAudio(
            f"the file is truncated or damaged: only {decoded_s:.1f} s of its "
            f"{declared_s:.1f} s could be decoded"
        )


async def _try_cover(original: Path, dest: Path) -> bool:
    """Extract the cover; a broken picture is logged and skipped, it never fails the transcode."""
    try:
        await extract_cover(original, dest)
    except MediaError as exc:
        log.warning("cover not extracted", extra={"original": original.name, "reason": exc.reason})
        return False
    return True


def _publish(work: Path, out_dir: Path, locked: int | None = None) -> None:
    """Blocking: move ``work`` to ``out_dir``; an existing ``out_dir`` is moved aside first, then deleted.

    Both renames are within one directory, hence atomic. Between them ``out_dir`` briefly does not
    exist (a reader gets a 404 and retries); if the second rename fails the old ladder is put back.
    ``locked``: a descriptor of ``out_dir`` whose lock the caller holds already.
    """
    if not out_dir.exists():
        os.rename(work, out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{int(time.time())}-{uuid.uuid4().hex[:8]}"
    # Locked before it is named .old-: a sweep never takes it from us.
    held = _lock_dir(out_dir) if locked is None else os.dup(locked)
    try:
        os.rename(out_dir, old)
        try:
            os.rename(work, out_dir)
        except OSError:
            os.rename(old, out_dir)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(held)


PUBLISH_LOCK_WAIT_S = 120.0
"""How long a publish waits for the track's ladder lock (held for milliseconds, unless its holder is
frozen) before it gives up, to be retried."""


async def _publish_fenced(work: Path, out_dir: Path, fence: Fence) -> None:
    """Swap ``work`` in as ``out_dir`` only while ``fence`` holds and no newer generation is published.

    The check and the renames run under the ``flock`` of the published directory itself (created empty
    for a first publish; across processes and containers sharing the folder): a publisher frozen after
    its check keeps the lock, and the newer claim publishes after it, replacing what it put.
    """
    await asyncio.to_thread((work / GENERATION_FILE).write_text, str(fence.generation))
    held = await _lock_published(out_dir, PUBLISH_LOCK_WAIT_S)
    try:
        await fence.check(await asyncio.to_thread(_published_generation, out_dir))
        await asyncio.to_thread(_publish, work, out_dir, held)
    finally:
        os.close(held)


async def _lock_published(out_dir: Path, wait_s: float) -> int:
    """A descriptor of the directory at ``out_dir`` holding its exclusive ``flock``.

    Polled without blocking a thread (a thread stuck in ``flock`` could not be cancelled and would take
    the lock after we gave up). A lock won on a directory that a publish renamed away meanwhile is
    dropped and the new one at ``out_dir`` is locked instead.
    """
    deadline = time.monotonic() + wait_s
    while True:
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
        try:
            fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue  # renamed away between the two calls
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the ladder of {out_dir.name} stayed locked") from None
                    await asyncio.sleep(0.05)
            try:
                current = os.stat(out_dir).st_ino
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)


def _published_generation(out_dir: Path) -> int | None:
    """Blocking: the generation of the ladder at ``out_dir`` (-1 for one published unfenced), or None."""
    try:
        return int((out_dir / GENERATION_FILE).read_text())
    except FileNotFoundError:
        return -1 if out_dir.exists() else None
    except ValueError:
        return -1


def _make_work(out_dir: Path) -> tuple[Path, int]:
    """Blocking: a new temp directory beside ``out_dir``, and the descriptor holding its lock."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{int(time.time())}-{uuid.uuid4().hex[:8]}"
    fresh = out_dir.parent / f".{out_dir.name}.new-{tag}"
    fresh.mkdir()
    held = _lock_dir(fresh)
    work = out_dir.parent / f".{out_dir.name}.tmp-{tag}"
    os.rename(fresh, work)
    return work, held


def _lock_dir(path: Path) -> int:
    """Blocking: an open descriptor of directory ``path`` holding its exclusive ``flock``."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_if_abandoned(path: Path, now: float) -> bool:
    """Blocking: remove a ``.tmp-``/``.old-`` directory nobody holds (a ``.new-`` one once it is old)."""
    if ".new-" in path.name:
        try:
            if now - path.stat().st_mtime < NEW_STALE_AFTER_S:
                return False
        except OSError:
            return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False  # gone already (published, or removed by its owner)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live transcode holds it
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def _remove_stale_siblings(out_dir: Path) -> None:
    """Blocking: remove the temp and set-aside directories of ``out_dir`` that no live process holds."""
    _sweep(out_dir.parent, f".{out_dir.name}")


def sweep_partial_ladders(hls_root: Path) -> int:
    """Blocking: remove every partial or set-aside ladder under ``hls_root`` that no live process holds
    (left by a process killed mid-transcode); how many were removed. Safe beside running transcodes."""
    return _sweep(hls_root, ".*")


def _sweep(folder: Path, stem: str) -> int:
    """Blocking: remove the abandoned ``<stem>.tmp-*``/``.old-*``/``.new-*`` directories in ``folder``."""
    if not folder.is_dir():
        return 0
    now = time.time()
    removed = 0
    for kind in ("tmp", "old", "new"):
        for path in folder.glob(f"{stem}.{kind}-*"):
            removed += _remove_if_abandoned(path, now)
    return removed
