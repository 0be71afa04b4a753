"""The only code in the project that spawns ffmpeg or ffprobe.

Everything runs through ``asyncio.create_subprocess_exec`` (the event loop is never blocked), with a
timeout, and the child is killed and reaped if the caller is cancelled or the timeout fires. Command
lines come from :mod:`media.commands`; this module runs them and turns what the tools print into typed
results or :mod:`media.errors` exceptions whose ``reason`` a human can read.

Every input is read under one policy (:func:`media.commands.input_args`, with the demuxer that
:func:`sniff_input` finds in the file's first bytes): the file protocol only, one named audio or image
demuxer, never a playlist or manifest format that opens other files. A run that hits its time limit
is blamed on the file (:class:`FileTooComplex`) only when the tool kept working on a CPU all that time
(:data:`BUSY_CPU_SHARE`); otherwise the machine was busy (:class:`ToolTimedOut`).

The coroutines take a ``timeout`` argument (ruff's ASYNC109 would rather have callers wrap them in
``asyncio.timeout``) because an expired limit is part of the result here: it becomes a
:class:`ToolTimedOut` (a :class:`TranscodeFailed`) with a reason, after the child has been killed,
not a bare ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import os
import re
import shutil
import stat
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media import commands
from media.errors import (
    FileTooComplex,
    MediaError,
    NotAudioFile,
    ToolMissing,
    ToolTimedOut,
    TranscodeFailed,
    Undecodable,
)
from media.sniff import AUDIO_DEMUXERS, IMAGE_DEMUXERS, Sniffed, sniff_file

ProgressCallback = Callable[[float], Awaitable[None] | None]
"""Receives a percentage 0-100; may be a plain function or a coroutine function."""

PROBE_TIMEOUT_S = 30.0
BUSY_CPU_SHARE = 0.25
"""A tool that timed out having had at least this share of the wall time on a CPU was working on the
file: the file is too complex. Why so low a share: a sound file costs ffprobe ~50 ms of CPU, so one that
reaches a 30 s limit with even a quarter of a core has cost 150 times that - the file, not a busy
machine. A tool that waited (stopped, starved, stuck on a slow disk) has next to no CPU time."""
COMPLEX_MIN_CPU_S = 1.0
"""...and at least this much CPU time in all: under a short limit (a test's, or a run cut off as it
started) a share says nothing, a second of work on one file does (20 times what a probe costs)."""
STDERR_TAIL_LINES = 500
_MAX_LINE = 2000
_LOG_PREFIX_RE = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")
_ERRORISH_RE = re.compile(
    r"error|invalid|not supported|could not|cannot|unable|no such|denied|"
    r"failed|unknown|corrupt|truncat|missing",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What ffprobe says about a file that holds audio (probe raises otherwise)."""

    format_name: str
    duration_ms: int
    has_audio: bool
    codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None
    has_cover: bool
    source: Sniffed
    """How the file is read (the input policy's verdict the probe ran under): the transcode reads it
    the same way, without sniffing it again."""
    duration_estimated: bool = False
    """True when the demuxer guessed the duration from the bitrate (e.g. VBR MP3 without a Xing
    header): it may be several percent off and must not be used to detect truncation."""

    def suggested_extension(self) -> str:
        """A file extension for storing this original, derived from what the file is, not its name."""
        fmt = self.format_name.split(",")[0]
        if fmt == "ogg":
            return {"opus": "opus", "flac": "oga"}.get(self.codec, "ogg")
        if fmt == "matroska":
            return "mka"
        named = {"mov": "m4a", "mp3": "mp3", "flac": "flac", "wav": "wav", "aiff": "aiff", "aac": "aac"}
        return named.get(fmt) or re.sub(r"[^a-z0-9]", "", fmt)[:8] or "bin"


@dataclass(frozen=True, slots=True)
class FfmpegRun:
    """A finished, successful ffmpeg run: its stderr tail (for parsing summaries) and wall time."""

    stderr_tail: str
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class Loudness:
    """EBU R128 integrated loudness (LUFS), loudness range (LU) and true peak (dBTP); None where the
    meter printed -inf."""

    integrated_lufs: float | None
    true_peak_dbtp: float | None
    range_lu: float | None = None


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a decode-only pass measured: the music's sample frames at the rate it was resampled to,
    and its loudness (None when the meter printed no summary)."""

    sample_rate: int
    source_samples: int
    loudness: Loudness | None


# --- the input policy ----------------------------------------------------------------------------


async def sniff_input(path: Path, *, images: bool = False) -> Sniffed:
    """The demuxer ``path`` must be read with (:mod:`media.sniff`); :class:`NotAudioFile` when its first
    bytes are none of the audio formats (or, with ``images``, image formats) we read."""
    try:
        found = await asyncio.to_thread(_sniff, Path(path), images)
    except OSError:
        raise MediaError("the file does not exist") from None
    if found is None:
        kinds = "audio or image format" if images else "audio format"
        raise NotAudioFile(f"not a recognised audio file (its first bytes are no {kinds} this server reads)")
    return found


def _sniff(path: Path, images: bool) -> Sniffed | None:
    # O_NONBLOCK: a FIFO put in a file's place must not hang the read; only regular files are media.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return sniff_file(f, images=images)


# --- probing -------------------------------------------------------------------------------------


async def probe(
    path: Path,
    *,
    timeout: float = PROBE_TIMEOUT_S,  # noqa: ASYNC109 - see module doc
    binary: str = commands.FFPROBE,
) -> ProbeResult:
    """Probe ``path`` with ffprobe; :class:`NotAudio` (with a reason) unless it holds decodable audio."""
    path = Path(path)
    size = await asyncio.to_thread(_file_size, path)
    if size is None:
        raise MediaError("the file does not exist")
    if size == 0:
        raise Undecodable("the file is empty")
    sniffed = await sniff_input(path)
    rc, out, err = await _run_collect(commands.probe_argv(path, sniffed, binary=binary), timeout=timeout)
    stderr = _scrub(err, path)
    if rc != 0:
        detail = _summarise(stderr.splitlines(), limit=1).removeprefix("the file: ") or "ffprobe failed"
        raise NotAudioFile(f"not a recognised audio file ({detail})")
    try:
        data = json.loads(out or "{}")
    except json.JSONDecodeError:
        raise NotAudioFile("not a recognised audio file (ffprobe printed no readable description)") from None
    return _probe_result(data, stderr, sniffed)


def _probe_result(data: dict[str, Any], stderr: str, sniffed: Sniffed) -> ProbeResult:
    streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
    found = data.get("format")
    fmt: dict[str, Any] = found if isinstance(found, dict) else {}
    names = str(fmt.get("format_name") or "").split(",")
    if sniffed.demuxer not in names or sniffed.demuxer not in AUDIO_DEMUXERS:
        # Cannot happen while -f is obeyed; a playlist or manifest format must never pass, whatever did.
        raise NotAudioFile(f"the file was read as {names[0] or 'nothing'}, which is not an audio container")
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not audio:
        raise NotAudioFile("the file has no audio stream" if streams else "not a recognised audio file")
    stream = audio[0]
    codec = str(stream.get("codec_name") or "")
    if not codec or codec == "none":
        raise Undecodable("the audio is in a format this server cannot decode")
    sample_rate = _to_int(stream.get("sample_rate"))
    channels = _to_int(stream.get("channels"))
    if not sample_rate or not channels:
        raise Undecodable("the audio stream has no sample rate or channels, so it cannot be decoded")
    duration = _to_float(stream.get("duration")) or _to_float(fmt.get("duration"))
    if not duration or duration <= 0:
        raise Undecodable("the audio has no duration (empty or unreadable stream)")
    has_cover = any(
        s.get("codec_type") == "video" and (s.get("disposition") or {}).get("attached_pic") == 1
        for s in streams
    )
    return ProbeResult(
        format_name=str(fmt.get("format_name") or "unknown"),
        duration_ms=round(duration * 1000),
        has_audio=True,
        codec=codec,
        sample_rate=sample_rate,
        channels=channels,
        bit_rate=_to_int(stream.get("bit_rate")) or _to_int(fmt.get("bit_rate")),
        has_cover=has_cover,
        source=sniffed,
        duration_estimated="Estimating duration from bitrate" in stderr,
    )


def _to_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _to_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- running ffmpeg ------------------------------------------------------------------------------


async def run_ffmpeg(
    argv: Sequence[str],
    *,
    duration_ms: int | None = None,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - see module doc
    cwd: Path | None = None,
    progress_interval: float = 0.5,
    niceness: int = 0,
) -> FfmpegRun:
    """Run ffmpeg (``argv[0]`` is the binary) reporting progress, or raise :class:`TranscodeFailed`.

    ``-progress pipe:1 -nostats`` are added; ``out_time_us`` is turned into a percentage of
    ``duration_ms`` and handed to ``on_progress`` (never decreasing; 100 once ffmpeg exited with 0).
    On timeout, on cancellation and if ``on_progress`` raises, ffmpeg is killed and reaped before the
    exception propagates. A non-zero exit raises with the meaningful lines of ffmpeg's stderr.
    """
    if not argv:
        raise ValueError("empty argv")
    full = [argv[0], "-progress", "pipe:1", "-nostats", "-stats_period", f"{progress_interval:g}", *argv[1:]]
    if niceness > 0 and shutil.which("nice"):
        # Background work (an analysis) yields the CPU to what a listener is waiting for.
        full = ["nice", "-n", str(niceness), *full]
    started = time.monotonic()
    proc = await _spawn(full, cwd=cwd, stdout=True)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    progress = _Progress(duration_ms, on_progress)
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(_pump_lines(proc.stderr, tail.append))
    try:
        async with asyncio.timeout(timeout):
            await _pump_lines_async(proc.stdout, progress.feed)
            returncode = await proc.wait()
            await stderr_task
    except TimeoutError:
        raise _timed_out(proc, "ffmpeg", timeout, started) from None
    finally:
        await _end(proc, stderr_task)
    _check_exit(returncode, tail)
    await progress.finish()
    return FfmpegRun(stderr_tail="\n".join(tail), elapsed_s=time.monotonic() - started)


async def stream_ffmpeg(argv: Sequence[str], *, chunk: int = 65536) -> AsyncGenerator[bytes, None]:
    """Run ffmpeg writing to stdout and yield what it writes, as it writes it.

    The consumer sets the pace (ffmpeg blocks on a full pipe) and may stop early: closing the
    iterator kills and reaps ffmpeg. A non-zero exit raises :class:`TranscodeFailed` with the
    meaningful lines of ffmpeg's stderr once stdout is drained."""
    if not argv:
        raise ValueError("empty argv")
    proc = await _spawn(argv, cwd=None, stdout=True)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(_pump_lines(proc.stderr, tail.append))
    try:
        while data := await proc.stdout.read(chunk):
            yield data
        returncode = await proc.wait()
        await stderr_task
    finally:
        await _end(proc, stderr_task)
    _check_exit(returncode, tail)


async def _end(proc: asyncio.subprocess.Process, stderr_task: asyncio.Task[None]) -> None:
    """Reap ffmpeg (killed if it still runs) and stop reading its stderr, cancelled or not."""
    try:
        await _reap(proc)
    finally:
        stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stderr_task


def _check_exit(returncode: int, tail: deque[str]) -> None:
    if returncode != 0:
        reason = _summarise(list(tail)) or "no error message"
        raise TranscodeFailed(f"ffmpeg failed (exit code {returncode}): {reason}")


class _Progress:
    """Turns ``-progress`` key=value blocks into monotonic percentages for the callback."""

    def __init__(self, duration_ms: int | None, callback: ProgressCallback | None) -> None:
        self._duration_us = duration_ms * 1000 if duration_ms and duration_ms > 0 else None
        self._callback = callback
        self._out_time_us: int | None = None
        self._last = -1.0

    async def feed(self, line: str) -> None:
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        # out_time_ms is also in microseconds (a long-standing ffmpeg quirk); prefer out_time_us.
        if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():
            if key == "out_time_us" or self._out_time_us is None:
                self._out_time_us = int(value)
        elif key == "progress":
            if value == "end":
                await self._emit(99.9)  # 100 only once the exit code says it worked (finish)
            elif self._out_time_us is not None and self._duration_us:
                # Below 100 until ffmpeg has exited: the muxers still have files to finish.
                await self._emit(min(99.9, max(0.0, 100.0 * self._out_time_us / self._duration_us)))

    async def finish(self) -> None:
        await self._emit(100.0)

    async def _emit(self, percent: float) -> None:
        if self._callback is None or percent <= self._last:
            return
        self._last = percent
        await call_progress(self._callback, percent)


async def call_progress(callback: ProgressCallback | None, percent: float) -> None:
    """Call a progress callback that may be sync or async."""
    if callback is None:
        return
    result = callback(percent)
    if inspect.isawaitable(result):
        await result


async def measure_loudness(
    source: Path,
    *,
    timeout: float | None = None,  # noqa: ASYNC109
    binary: str = commands.FFMPEG,
) -> Loudness:
    """A decode-only pass through the EBU R128 meter; :class:`TranscodeFailed` if no summary appears."""
    sniffed = await sniff_input(source)
    run = await run_ffmpeg(commands.loudness_argv(source, sniffed, binary=binary), timeout=timeout)
    loudness = parse_ebur128_summary(run.stderr_tail)
    if loudness is None:
        raise TranscodeFailed("the loudness meter printed no summary")
    return loudness


async def analyse(
    source: Path,
    sample_rate: int,
    *,
    loudness: bool = True,
    blocks_file: Path | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
    binary: str = commands.FFMPEG,
    niceness: int = 0,
) -> Analysis:
    """Decode ``source`` once at ``sample_rate`` (the ladder's rate for it) through the sample counter
    and (``loudness``) the loudness meter (:func:`media.commands.analysis_argv`);
    :class:`TranscodeFailed` if the decode fails or counts nothing."""
    sniffed = await sniff_input(source)
    argv = commands.analysis_argv(
        source, sniffed, sample_rate, loudness=loudness, blocks_file=blocks_file, binary=binary
    )
    run = await run_ffmpeg(argv, timeout=timeout, niceness=niceness)
    samples = parse_sample_count(run.stderr_tail, channels=2)  # the resampler makes it stereo
    if not samples:
        raise TranscodeFailed("the decode counted no samples")
    return Analysis(sample_rate, samples, parse_ebur128_summary(run.stderr_tail))


_SUMMARY_I_RE = re.compile(r"Integrated loudness:\s*I:\s*(-?inf|[-+]?\d+(?:\.\d+)?)\s*LUFS", re.IGNORECASE)
_SUMMARY_TP_RE = re.compile(r"True peak:\s*Peak:\s*(-?inf|[-+]?\d+(?:\.\d+)?)\s*dBFS", re.IGNORECASE)
_SUMMARY_LRA_RE = re.compile(r"Loudness range:\s*LRA:\s*(-?inf|[-+]?\d+(?:\.\d+)?)\s*LU\b", re.IGNORECASE)
_VOLUMEDETECT_N_RE = re.compile(r"\]\s*n_samples:\s*(\d+)")


def parse_ebur128_summary(stderr: str) -> Loudness | None:
    """Integrated loudness and true peak from the summary the ``ebur128`` filter prints when it closes.

    Only the text after the last ``Summary:`` counts, so per-frame lines (if any were logged) and other
    filters' output cannot be mistaken for it. None when there is no summary.
    """
    at = stderr.rfind("Summary:")
    if at < 0:
        return None
    summary = stderr[at:]
    integrated = _SUMMARY_I_RE.search(summary)
    if integrated is None:
        return None
    peak = _SUMMARY_TP_RE.search(summary)
    lra = _SUMMARY_LRA_RE.search(summary)
    return Loudness(
        _db_value(integrated.group(1)),
        _db_value(peak.group(1)) if peak else None,
        _db_value(lra.group(1)) if lra else None,
    )


def parse_sample_count(stderr: str, channels: int) -> int | None:
    """Sample frames that went through the ``volumedetect`` filter (it counts samples of all channels)."""
    found = _VOLUMEDETECT_N_RE.findall(stderr)
    return int(found[-1]) // channels if found else None


def _db_value(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


async def extract_cover(
    source: Path,
    dest: Path,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109
    binary: str = commands.FFMPEG,
    max_px: int = commands.COVER_MAX_PX,
) -> Path:
    """Write the embedded cover of ``source`` (or the image ``source`` is) to ``dest`` as a JPEG no
    larger than ``max_px``; :class:`TranscodeFailed` if impossible."""
    try:
        sniffed = await sniff_input(source, images=True)
    except NotAudioFile:
        raise TranscodeFailed(
            "could not extract the cover: the file is neither audio nor a picture"
        ) from None
    if sniffed.demuxer not in AUDIO_DEMUXERS | IMAGE_DEMUXERS:
        raise TranscodeFailed("could not extract the cover: not a format covers are read from")
    argv = commands.cover_argv(source, sniffed, dest, max_px=max_px, binary=binary)
    rc, _, err = await _run_collect(argv, timeout=timeout)
    if rc != 0 or not await asyncio.to_thread(_file_size, dest):
        await asyncio.to_thread(dest.unlink, missing_ok=True)
        reason = _summarise(_scrub(err, source).splitlines()) or "no picture stream"
        raise TranscodeFailed(f"could not extract the cover: {reason}")
    return dest


# --- subprocess plumbing -------------------------------------------------------------------------


_DIE_WITH_PARENT: tuple[str, ...] = (
    ("setpriv", "--pdeathsig", "KILL", "--") if sys.platform == "linux" and shutil.which("setpriv") else ()
)
"""A child started through util-linux's ``setpriv --pdeathsig`` is killed by the kernel when the process
that started it dies, even by SIGKILL: a killed worker leaves no ffmpeg behind to compete with the
worker that takes its job over. (``preexec_fn`` could do the same, but runs Python code between fork
and exec, which is unsafe in a process with threads.)"""


async def _spawn(argv: Sequence[str], *, cwd: Path | None, stdout: bool) -> asyncio.subprocess.Process:
    if not shutil.which(argv[0]):
        raise ToolMissing(f"{argv[0]} is not installed or not on PATH")
    try:
        return await asyncio.create_subprocess_exec(
            *_DIE_WITH_PARENT,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
        )
    except FileNotFoundError:
        raise ToolMissing(f"{argv[0]} is not installed or not on PATH") from None


async def _run_collect(argv: Sequence[str], *, timeout: float | None) -> tuple[int, str, str]:  # noqa: ASYNC109
    """Run to completion collecting stdout and stderr (for small outputs: ffprobe, cover extraction)."""
    started = time.monotonic()
    proc = await _spawn(argv, cwd=None, stdout=True)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        raise _timed_out(proc, Path(argv[0]).name, timeout, started) from None
    finally:
        await _reap(proc)
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _timed_out(
    proc: asyncio.subprocess.Process, tool: str, limit: float | None, started: float
) -> MediaError:
    """The error for a run that hit its limit (called before the child is reaped): the file's fault
    when the tool had at least :data:`BUSY_CPU_SHARE` of a core all along (and
    :data:`COMPLEX_MIN_CPU_S` in all), the machine's otherwise."""
    cpu = _cpu_seconds(proc.pid)
    wall = time.monotonic() - started
    if cpu is not None and cpu >= max(BUSY_CPU_SHARE * wall, COMPLEX_MIN_CPU_S):
        return FileTooComplex(f"{tool} was still working on the file after {limit:g} s")
    return ToolTimedOut(f"{tool} did not finish within {limit:g} s")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live child, from /proc (None where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:  # procfs: never blocks
            raw = f.read()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces) start after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (IndexError, ValueError):
        return None


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Kill the child if it still runs and wait for it, so that no zombie or orphan is left behind."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    # If we are being cancelled, the wait must still end before we do (the kill makes it quick): a
    # caller cancelled mid-run (a pass whose sibling failed) must not return while its ffmpeg still
    # exists. So the wait is shielded, awaited again after the cancellation, and the cancellation
    # raised once it is over. (Returning at the first CancelledError left a killed ffmpeg alive for a
    # moment, which a loaded machine made long enough to see.)
    waiting = asyncio.ensure_future(proc.wait())
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        await waiting
        raise


async def _pump_lines(stream: asyncio.StreamReader, sink: Callable[[str], object]) -> None:
    """Feed each line of ``stream`` to a sync sink. Reads chunks, so an endless line cannot overrun."""
    async for line in _lines(stream):
        sink(line)


async def _pump_lines_async(stream: asyncio.StreamReader, sink: Callable[[str], Awaitable[None]]) -> None:
    async for line in _lines(stream):
        await sink(line)


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *complete, pending = re.split(rb"\r\n|\r|\n", pending)
        for raw in complete:
            yield raw[:_MAX_LINE].decode("utf-8", "replace")
        if len(pending) > _MAX_LINE:
            pending = pending[:_MAX_LINE]
    if pending:
        yield pending.decode("utf-8", "replace")


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _scrub(text: str, path: Path) -> str:
    """Remove the file's path from tool output: reasons are shown to users and must not leak it."""
    for form in {str(Path(path).absolute()), str(path), os.fspath(path)}:
        text = text.replace(f"file:{form}", "the file").replace(form, "the file")
    return text


def _summarise(lines: list[str], limit: int = 2) -> str:
    """The last ``limit`` distinct error-looking lines (prefixes stripped), else the last line."""
    cleaned = [_LOG_PREFIX_RE.sub("", line).strip() for line in lines]
    cleaned = [line for line in cleaned if line]
    picked: list[str] = []
    for line in reversed(cleaned):
        if _ERRORISH_RE.search(line) and line not in picked:
            picked.insert(0, line)
            if len(picked) == limit:
                break
    if not picked and cleaned:
        picked = [cleaned[-1]]
    return "; ".join(picked)[:300]
