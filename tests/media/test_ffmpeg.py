"""media.ffmpeg against the real ffmpeg/ffprobe: probing, running with progress, loudness, covers."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media import commands
from media.errors import MediaError, NotAudio, ToolMissing, TranscodeFailed
from media.ffmpeg import extract_cover, measure_loudness, parse_ebur128_summary, probe, run_ffmpeg
from tests.audio import FORMATS, ffmpeg_processes_mentioning, make_audio, make_garbage, make_jpeg, make_sine

EXPECTED_CODEC = {
    "mp3": "mp3",
    "flac": "flac",
    "wav": "pcm_s16le",
    "ogg": "vorbis",
    "m4a": "aac",
    "opus": "opus",
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_probe_reads_every_format(tagged_files: dict[str, Path], fmt: str) -> None:
    result = await probe(tagged_files[fmt])
    assert result.has_audio
    assert result.codec == EXPECTED_CODEC[fmt]
    assert result.channels == 2
    assert result.sample_rate == (48_000 if fmt == "opus" else 44_100)
    assert abs(result.duration_ms - 3000) <= 60
    assert result.has_cover is (fmt != "wav")
    assert not result.duration_estimated
    assert result.suggested_extension() == fmt


async def test_probe_rejects_empty_file(tmp_path: Path) -> None:
    with pytest.raises(NotAudio, match="empty"):
        await probe(make_garbage(tmp_path / "empty.mp3", "empty"))


async def test_probe_rejects_text_without_leaking_the_path(tmp_path: Path) -> None:
    path = make_garbage(tmp_path / "letter.mp3", "text")
    with pytest.raises(NotAudio, match="not a recognised audio file") as caught:
        await probe(path)
    assert str(tmp_path) not in caught.value.reason


async def test_probe_rejects_an_image(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(make_jpeg())
    # Refused by the input policy before ffprobe runs: its first bytes are no audio container.
    with pytest.raises(NotAudio, match="no audio format this server reads"):
        await probe(path)


async def test_probe_rejects_a_video_container_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    subprocess.run(  # noqa: ASYNC221 - a fixture made before anything runs
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32:d=1", "-y", str(path)], check=True
    )
    with pytest.raises(NotAudio, match="no audio stream"):
        await probe(path)


async def test_probe_of_missing_file_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        await probe(tmp_path / "nope.flac")


async def test_missing_binary_is_reported_as_such(tagged_files: dict[str, Path]) -> None:
    with pytest.raises(ToolMissing, match="not installed"):
        await probe(tagged_files["flac"], binary="ffprobe-that-does-not-exist")


async def test_run_ffmpeg_reports_increasing_progress_up_to_100(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "in.flac", "flac", 20)
    seen: list[float] = []

    async def on_progress(percent: float) -> None:  # async callbacks are awaited
        seen.append(percent)

    argv = [
        "ffmpeg",
        "-nostdin",
        "-y",
        "-i",
        commands.file_url(source),
        "-c:a",
        "aac",
        "-b:a",
        "256k",
        commands.file_url(tmp_path / "out.m4a"),
    ]
    run = await run_ffmpeg(argv, duration_ms=20_000, on_progress=on_progress, progress_interval=0.05)
    assert seen[-1] == 100.0
    assert len(seen) >= 3, seen
    assert all(a < b for a, b in itertools.pairwise(seen)), seen
    assert 0 <= seen[0] < 100
    assert (tmp_path / "out.m4a").stat().st_size > 0
    assert run.elapsed_s > 0


async def test_run_ffmpeg_failure_carries_ffmpegs_reason(tmp_path: Path) -> None:
    argv = ["ffmpeg", "-nostdin", "-i", commands.file_url(tmp_path / "missing.wav"), "-f", "null", "-"]
    with pytest.raises(TranscodeFailed, match=r"exit code \d+.*No such file"):
        await run_ffmpeg(argv)


def _endless_argv(marker: Path) -> list[str]:
    """ffmpeg reading an infinite synthetic source, in real time: it never ends on its own."""
    return [
        "ffmpeg",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-f",
        "null",
        "-metadata",
        f"comment={marker}",
        "-",
    ]


async def test_timeout_kills_ffmpeg(tmp_path: Path) -> None:
    marker = tmp_path / "timeout-marker"
    with pytest.raises(TranscodeFailed, match="did not finish within"):
        await run_ffmpeg(_endless_argv(marker), timeout=0.5)
    assert ffmpeg_processes_mentioning(str(marker)) == []


async def test_cancellation_kills_ffmpeg(tmp_path: Path) -> None:
    marker = tmp_path / "cancel-marker"
    task = asyncio.create_task(run_ffmpeg(_endless_argv(marker)))
    await asyncio.sleep(0.5)
    assert ffmpeg_processes_mentioning(str(marker)), "ffmpeg should be running before the cancel"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ffmpeg_processes_mentioning(str(marker)) == []


async def test_a_raising_progress_callback_stops_ffmpeg(tmp_path: Path) -> None:
    marker = tmp_path / "callback-marker"

    def explode(percent: float) -> None:
        raise RuntimeError("listener gone")

    with pytest.raises(RuntimeError, match="listener gone"):
        await run_ffmpeg(
            _endless_argv(marker), duration_ms=60_000, on_progress=explode, progress_interval=0.1
        )
    assert ffmpeg_processes_mentioning(str(marker)) == []


async def test_loudness_of_a_known_sine(tmp_path: Path) -> None:
    # A stereo 997 Hz sine peaking at 0.1 (-20 dBFS): -20 LUFS integrated, -20 dBTP true peak.
    loudness = await measure_loudness(make_sine(tmp_path / "sine.wav", 0.1))
    assert loudness.integrated_lufs == pytest.approx(-20.0, abs=0.3)
    assert loudness.true_peak_dbtp == pytest.approx(-20.0, abs=0.3)


async def test_loudness_of_silence_has_no_true_peak(tmp_path: Path) -> None:
    loudness = await measure_loudness(make_sine(tmp_path / "silence.wav", 0.0, seconds=2))
    assert loudness.integrated_lufs == pytest.approx(-70.0)
    assert loudness.true_peak_dbtp is None


def test_summary_parser_ignores_per_frame_lines_and_missing_summary() -> None:
    frames = "[Parsed_ebur128_0 @ 0x1] t: 1.0 TARGET:-23 LUFS M: -9.0 S: -9.0 I: -9.0 LUFS LRA: 0.0 LU\n"
    summary = (
        "[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -14.2 LUFS\n"
        "    Threshold: -24.5 LUFS\n\n  True peak:\n    Peak:        0.4 dBFS\n"
    )
    assert parse_ebur128_summary(frames) is None
    parsed = parse_ebur128_summary(frames + summary + "[aac @ 0x2] Qavg: 123.0\n")
    assert parsed is not None
    assert (parsed.integrated_lufs, parsed.true_peak_dbtp) == (-14.2, 0.4)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "m4a", "ogg"])
async def test_extract_cover_writes_a_jpeg(tagged_files: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    dest = await extract_cover(tagged_files[fmt], tmp_path / "cover.jpg")
    data = dest.read_bytes()
    assert data.startswith(b"\xff\xd8\xff")
    assert len(data) > 100


async def test_extract_cover_without_picture_fails_cleanly(
    tagged_files: dict[str, Path], tmp_path: Path
) -> None:
    dest = tmp_path / "cover.jpg"
    with pytest.raises(TranscodeFailed, match="could not extract the cover"):
        await extract_cover(tagged_files["wav"], dest)
    assert not dest.exists()


async def test_a_fifo_in_a_files_place_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "never-written.mp3"
    os.mkfifo(fifo)
    async with asyncio.timeout(10):
        with pytest.raises(MediaError):
            await probe(fifo)
        with pytest.raises(TranscodeFailed):
            await extract_cover(fifo, tmp_path / "c.jpg")


def test_ffmpeg_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """SIGKILL the process running ffmpeg: the kernel ends ffmpeg too, even one that writes nothing.

    This ffmpeg waits forever to open a FIFO nobody writes to, so nothing but the parent-death signal
    could end it (no broken pipe, no timeout). (Given to run_ffmpeg as a command line: the input
    policy would refuse a FIFO as a source before any ffmpeg starts, see the test below.)
    """
    fifo = tmp_path / "never-written.fifo"
    os.mkfifo(fifo)
    argv = ["ffmpeg", "-nostdin", "-f", "s16le", "-i", f"file:{fifo}", "-f", "null", "-"]
    script = (
        "import asyncio\nfrom media.ffmpeg import run_ffmpeg\n"
        f"asyncio.run(run_ffmpeg({argv!r}, timeout=600))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 30
        while not ffmpeg_processes_mentioning(str(fifo)):
            assert time.monotonic() < deadline, "ffmpeg never started"
            time.sleep(0.05)
        time.sleep(0.3)  # well inside its blocking open of the FIFO
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while ffmpeg_processes_mentioning(str(fifo)):
            assert time.monotonic() < deadline, "ffmpeg outlived the process that started it"
            time.sleep(0.05)
    finally:
        parent.kill()
        for pid in ffmpeg_processes_mentioning(str(fifo)):
            os.kill(pid, signal.SIGKILL)
