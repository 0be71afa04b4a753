"""transcode() end to end with the real ffmpeg: every format in, a valid aligned ladder out."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import time
from pathlib import Path

import pytest

from media.errors import NotAudio, TranscodeFailed
from media.fencing import GENERATION_FILE, ClaimLost, Fence
from media.ffmpeg import probe
from media.hls import measure_rendition, validate_ladder
from media.ladder import DEFAULT_LADDER, Ladder, Rung
from media.playlists import parse_master_playlist, read_media_playlist
from tests.audio import (
    FORMATS,
    ffmpeg_decode_errors,
    ffmpeg_processes_mentioning,
    ffprobe_duration,
    make_audio,
    make_garbage,
)
from tests.media.test_publish import Frozen, holding
from tests.transcoder.conftest import SECONDS
from transcoder import TranscodeResult, transcode
from transcoder.pipeline import sweep_partial_ladders


def _leftovers(parent: Path) -> list[str]:
    """Temp or old directories of the pipeline under ``parent``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_format_becomes_a_valid_playable_ladder(
    sources: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "hls" / "track1"
    result = await transcode(sources[fmt], out)

    assert validate_ladder(out) == []
    assert [r.name for r in result.renditions] == ["64k", "128k", "256k"]
    assert {r.codec for r in result.renditions} == {"mp4a.40.2"}
    assert abs(result.duration_ms - SECONDS * 1000) <= 60
    assert result.segment_count == 3
    gapless = result.gapless
    assert gapless is not None and abs(gapless.source_samples / gapless.sample_rate - SECONDS) <= 0.06
    for rung in DEFAULT_LADDER.rungs:
        playlist = read_media_playlist(out / rung.name / "index.m3u8")
        # EXTINF adds up to what each rung holds: the music, its mirrored edges and the encoder's priming
        # (the last frame's padding is left out by ffmpeg), within a frame.
        held = gapless.priming_samples + gapless.source_samples + gapless.padding_samples
        assert 0 <= held / gapless.sample_rate - playlist.duration < 1024 / gapless.sample_rate + 1e-6
        assert playlist.map_uri == "init.mp4"
        assert sorted(p.name for p in (out / rung.name).iterdir()) == [
            "index.m3u8",
            "init.mp4",
            "seg_00000.m4s",
            "seg_00001.m4s",
            "seg_00002.m4s",
        ]
    code, errors = ffmpeg_decode_errors(str(out / "master.m3u8"))
    assert (code, errors) == (0, "")
    assert _leftovers(out.parent) == []
    assert result.loudness_lufs is not None and -40 < result.loudness_lufs < 0
    assert result.true_peak_dbtp is not None and -40 < result.true_peak_dbtp < 3
    if fmt in ("mp3", "flac", "m4a"):
        assert result.cover_path == out / "cover.jpg"
        assert result.cover_path.read_bytes()[:3] == b"\xff\xd8\xff"
    else:
        assert result.cover_path is None


async def test_master_declares_measured_not_nominal_bandwidth(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "t"
    result = await transcode(sources["flac"], out)
    master = parse_master_playlist((out / "master.m3u8").read_text())
    assert master.independent_segments
    rows = zip(master.variants, result.renditions, DEFAULT_LADDER.rungs, strict=True)
    for variant, rendition, rung in rows:
        measured = measure_rendition(out / rung.name)
        assert variant.uri == f"{rung.name}/index.m3u8"
        assert variant.bandwidth == measured.peak_bandwidth == rendition.peak_bandwidth
        assert variant.average_bandwidth == measured.average_bandwidth == rendition.average_bandwidth
        assert variant.bandwidth != round(rung.bitrate * 1.1)  # not ffmpeg's nominal x 1.1
        # An AAC encoder at a nominal rate lands near it: a gross mismatch would mean a wrong rung.
        assert 0.5 * rung.bitrate < rendition.average_bandwidth < 1.2 * rung.bitrate


async def test_rungs_share_segment_boundaries(sources: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "t"
    await transcode(sources["ogg"], out)
    boundaries = {
        [s.duration for s in read_media_playlist(out / r.name / "index.m3u8").segments].__repr__()
        for r in DEFAULT_LADDER.rungs
    }
    assert len(boundaries) == 1


async def test_progress_increases_to_100(sources: dict[str, Path], tmp_path: Path) -> None:
    seen: list[float] = []
    await transcode(sources["wav"], tmp_path / "t", on_progress=seen.append)
    assert len(seen) >= 3, seen
    assert all(a < b for a, b in itertools.pairwise(seen)), seen
    assert seen[0] < 50 and seen[-1] == 100.0


async def test_mono_48k_input_becomes_stereo_48k(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "mono.wav", "wav", 7, sample_rate=48_000, channels=1)
    result = await transcode(source, tmp_path / "t")
    assert result.sample_rate == 48_000
    # The rung as one file (init + first segment): a playlist is not something probe() reads.
    rung = tmp_path / "t" / "128k"
    joined = tmp_path / "rung.mp4"
    joined.write_bytes((rung / "init.mp4").read_bytes() + (rung / "seg_00000.m4s").read_bytes())
    init = await probe(joined)
    assert (init.channels, init.sample_rate, init.codec) == (2, 48_000, "aac")


async def test_a_custom_ladder(sources: dict[str, Path], tmp_path: Path) -> None:
    ladder = Ladder(rungs=(Rung("low", 48_000), Rung("high", 160_000, aac_coder="fast")), segment_seconds=4)
    out = tmp_path / "t"
    result = await transcode(sources["flac"], out, ladder=ladder)
    assert [r.name for r in result.renditions] == ["low", "high"]
    assert result.segment_count == 4  # 4 + 4 + 4 + 2 s
    assert validate_ladder(out) == []


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        ("empty", NotAudio, "empty"),
        ("text", NotAudio, "not a recognised audio file"),
        ("truncated", NotAudio, "truncated"),
    ],
)
async def test_bad_input_fails_clearly_and_leaves_nothing(
    sources: dict[str, Path], tmp_path: Path, kind: str, error: type[Exception], words: str
) -> None:
    bad = make_garbage(tmp_path / f"{kind}.mp3", kind, source=sources["mp3"])
    parent = tmp_path / "hls"
    parent.mkdir()
    with pytest.raises(error, match=words):
        await transcode(bad, parent / "t")
    assert list(parent.iterdir()) == []


async def test_retranscode_replaces_the_ladder_atomically(sources: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "hls" / "t"
    short = make_audio(tmp_path / "short.flac", "flac", 5)
    first = await transcode(short, out)
    assert first.segment_count == 1
    (out / "stale-file").write_text("from the first attempt")
    second = await transcode(sources["flac"], out)
    assert second.segment_count == 3
    assert not (out / "stale-file").exists()
    assert validate_ladder(out) == []
    assert _leftovers(out.parent) == []


async def test_failure_keeps_the_previous_ladder(sources: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "hls" / "t"
    await transcode(sources["flac"], out)
    before = (out / "master.m3u8").read_text()
    bad = make_garbage(tmp_path / "bad.mp3", "truncated", source=sources["mp3"])
    with pytest.raises(NotAudio):
        await transcode(bad, out)
    assert (out / "master.m3u8").read_text() == before
    assert validate_ladder(out) == []
    assert _leftovers(out.parent) == []


async def test_timeout_fails_and_cleans_up(sources: dict[str, Path], tmp_path: Path) -> None:
    parent = tmp_path / "hls"
    with pytest.raises(TranscodeFailed, match="did not finish"):
        await transcode(sources["flac"], parent / "t", timeout=0.01)
    assert list(parent.iterdir()) == []
    assert ffmpeg_processes_mentioning(str(sources["flac"])) == []


async def test_cancellation_kills_ffmpeg_and_cleans_up(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "long.wav", "wav", 60)
    parent = tmp_path / "hls"
    parent.mkdir()
    seen: list[float] = []
    encoding = asyncio.Event()

    def on_progress(percent: float) -> None:
        seen.append(percent)
        if percent > 2.0:  # past the probe: ffmpeg has reported progress, so it is running
            encoding.set()

    task = asyncio.create_task(transcode(source, parent / "t", on_progress=on_progress))
    await asyncio.wait_for(encoding.wait(), 10)
    assert ffmpeg_processes_mentioning(str(source)), "ffmpeg should be running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ffmpeg_processes_mentioning(str(source)) == []
    assert list(parent.iterdir()) == []
    assert 100.0 not in seen


async def test_temp_dirs_nobody_holds_are_removed_and_held_ones_kept(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    """A dead transcode's directories go at once, whatever their age; one a live process holds under
    its lock (here this test, as a transcode in another process would) stays."""
    parent = tmp_path / "hls"
    stale = parent / f".t.tmp-{int(time.time())}-deadbeef"  # just now, but its process is gone
    set_aside = parent / f".t.old-{int(time.time())}-deadbeef"
    held = parent / f".t.tmp-{int(time.time())}-cafebabe"
    for folder in (stale, set_aside, held):
        folder.mkdir(parents=True)
    fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = await transcode(sources["wav"], parent / "t")
        assert isinstance(result, TranscodeResult)
        assert not stale.exists() and not set_aside.exists()
        assert held.exists()
        assert sweep_partial_ladders(parent) == 0 and held.exists()
    finally:
        os.close(fd)
    assert sweep_partial_ladders(parent) == 1 and not held.exists()
    assert sorted(p.name for p in parent.iterdir()) == ["t"]


def test_source_durations_are_what_the_tests_assume(sources: dict[str, Path]) -> None:
    for fmt in ("flac", "wav"):
        assert ffprobe_duration(sources[fmt]) == pytest.approx(SECONDS, abs=0.01)


async def test_fenced_publishes_of_one_track_take_turns_and_the_newest_stays(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    """Local ladders: the check and the swap run under the published directory's lock. An older claim
    frozen after its check keeps the lock; the newer one waits for it and then replaces what the older
    one put. An older claim arriving after the newer one gives up and leaves nothing behind."""
    out = tmp_path / "hls" / "t"
    old = Frozen()
    first = asyncio.create_task(transcode(sources["flac"], out, fence=Fence(1, old.holds)))
    await asyncio.wait_for(old.checking.wait(), 60)
    second = asyncio.create_task(transcode(sources["mp3"], out, fence=Fence(2, holding)))
    # The newer one is done transcoding and waits at the lock (its generation is written first).
    for _ in range(600):
        waiting = [p for p in out.parent.glob(".t.tmp-*") if (p / GENERATION_FILE).exists()]
        if len(waiting) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(waiting) == 2 and not second.done()
    old.release.set()
    await first
    await second
    assert (out / GENERATION_FILE).read_text() == "2"
    assert validate_ladder(out) == [] and _leftovers(out.parent) == []

    with pytest.raises(ClaimLost):
        await transcode(sources["flac"], out, fence=Fence(1, holding))
    assert (out / GENERATION_FILE).read_text() == "2" and _leftovers(out.parent) == []
