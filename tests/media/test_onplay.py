"""Segments made on play against the eager ladder ffmpeg makes of the same music.

From the first segment they are the eager ladder's, byte for byte (the same encoder over the same
samples, packed the way ffmpeg's HLS muxer packs them). From a later segment — a seek into a track never
played — they hold the same frames at the same instants, and played after the eager ladder's earlier
segments they give back the music as faithfully as the eager ladder does, the join included.
"""

from __future__ import annotations

import array
import shutil
import subprocess
from pathlib import Path

import pytest

from media.ffmpeg import analyse
from media.fmp4 import AdtsError, split_adts
from media.gapless import AAC_FRAME, edges_for, encoded_frames, trailing_samples
from media.hls_plan import LadderPlan, plan_ladder
from media.ladder import DEFAULT_LADDER
from media.layout import INIT_SEGMENT, MASTER_PLAYLIST, MEDIA_PLAYLIST, segment_name
from media.onplay import PREROLL_FRAMES, OnPlaySource, prepare, run_start, segments_from
from media.playlists import parse_master_playlist, read_media_playlist
from transcoder.pipeline import TranscodeResult, transcode

SECONDS = 20


def sweep(path: Path, rate: int) -> Path:
    """A slow sine sweep, the same on both channels: smooth, so any error shows."""
    expr = "0.5*sin(2*PI*(50*t+5*t*t))"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"aevalsrc='{expr}|{expr}':s={rate}:d={SECONDS}",
         "-c:a", "flac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def pcm(path: Path) -> array.array:
    """Channel 0 as float samples (a playlist is decoded segment after segment, as a player does)."""
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-af", "pan=mono|c0=c0",
         "-f", "f32le", "-"],
        capture_output=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    samples = array.array("f")
    samples.frombytes(out)
    return samples


async def _eager(tmp_path: Path, rate: int) -> tuple[Path, TranscodeResult, LadderPlan, int, int | None]:
    source = sweep(tmp_path / "sweep.flac", rate)
    result = await transcode(source, tmp_path / "hls")
    ladder_rate = DEFAULT_LADDER.sample_rate_for(rate)
    counted = (await analyse(source, ladder_rate)).source_samples
    edges, tail_from = edges_for(result.probe.duration_ms, result.probe.duration_estimated, ladder_rate)
    plan = plan_ladder(
        counted, ladder_rate, DEFAULT_LADDER.segment_seconds,
        edges=edges, trailing=trailing_samples(counted, edges, tail_from),
    )  # fmt: skip
    assert plan.gapless == result.gapless
    return source, result, plan, edges, tail_from


@pytest.mark.parametrize("rate", [44_100, 96_000])
async def test_from_the_first_segment_they_are_the_eager_ladders_byte_for_byte(
    tmp_path: Path, rate: int
) -> None:
    source, _, plan, edges, tail_from = await _eager(tmp_path, rate)
    rung = DEFAULT_LADDER.rungs[0]
    made = [pair async for pair in segments_from(source, plan, rung, 0, edges=edges, tail_from=tail_from)]
    assert [i for i, _ in made] == list(range(len(plan.segment_frames)))
    eager = read_media_playlist(tmp_path / "hls" / rung.name / MEDIA_PLAYLIST)
    for (_, data), listed in zip(made, eager.segments, strict=True):
        assert data == (tmp_path / "hls" / rung.name / listed.uri).read_bytes()


async def test_from_a_later_segment_they_join_the_eager_ones_without_a_seam(tmp_path: Path) -> None:
    source, _, plan, edges, tail_from = await _eager(tmp_path, 44_100)
    rung = DEFAULT_LADDER.rung("128k")
    first = 2
    made = dict(
        [pair async for pair in segments_from(source, plan, rung, first, edges=edges, tail_from=tail_from)]
    )
    assert sorted(made) == list(range(first, len(plan.segment_frames)))

    # The eager ladder's first segments, then the ones made on play, under the eager playlist.
    mixed = tmp_path / "mixed"
    shutil.copytree(tmp_path / "hls" / rung.name, mixed)
    for index, data in made.items():
        path = mixed / f"seg_{index:05d}.m4s"
        assert data != path.read_bytes()  # another run: not the same bytes ...
        path.write_bytes(data)
        assert encoded_frames([path]) == plan.segment_frames[index]  # ... but the planned frames

    music = pcm(source)
    eager = pcm(tmp_path / "hls" / rung.name / MEDIA_PLAYLIST)
    joined = pcm(mixed / MEDIA_PLAYLIST)
    assert len(joined) == len(eager) == plan.frames * AAC_FRAME  # a decoder outputs every frame whole
    skip = plan.gapless.priming_samples  # ffmpeg does not apply fMP4 edit lists: trim the priming here

    def worst(decoded: array.array, lo: int, hi: int) -> float:
        return max(abs(decoded[skip + i] - music[i]) for i in range(lo, hi))

    everywhere = (0, len(music))
    seam = plan.first_frame(first) * AAC_FRAME - skip
    around_seam = (seam - 4 * AAC_FRAME, seam + 4 * AAC_FRAME)
    # As faithful as the eager ladder, over the whole track and at the join (the coder's own error at
    # this rate bounds both; a misplaced frame or a gap would be a whole wave off).
    assert worst(joined, *everywhere) <= 1.1 * worst(eager, *everywhere)
    assert worst(joined, *around_seam) <= 1.1 * worst(eager, *everywhere)
    assert worst(joined, 0, seam - AAC_FRAME) == worst(eager, 0, seam - AAC_FRAME)  # untouched before it


def test_a_run_starts_whole_frames_before_the_first_frame_kept() -> None:
    assert run_start(0, 4096) == 0
    assert run_start(5, 4096) == 0  # inside the head's mirror: the run makes it too
    assert run_start(300, 4096) == (300 - 1 - PREROLL_FRAMES) * AAC_FRAME
    assert run_start(300, 0) % AAC_FRAME == 0


def test_adts_frames_are_split_off_whole() -> None:
    def frame(payload: bytes) -> bytes:
        length = 7 + len(payload)
        header = bytes(
            [0xFF, 0xF1, 0x50, 0x80 | (length >> 11), (length >> 3) & 0xFF, ((length & 7) << 5) | 0x1F, 0xFC]
        )
        return header + payload

    data = frame(b"abc") + frame(b"defg") + frame(b"hi")[:5]
    frames, rest = split_adts(data)
    assert frames == [b"abc", b"defg"] and rest == frame(b"hi")[:5]
    assert split_adts(rest + frame(b"hi")[5:]) == ([b"hi"], b"")
    with pytest.raises(AdtsError):
        split_adts(b"\x00" * 10)


async def test_a_prepared_ladder_announces_what_the_eager_ladder_holds(tmp_path: Path) -> None:
    source, _, plan, _, _ = await _eager(tmp_path, 48_000)
    prepared = await prepare(source, tmp_path / "onplay", loudness=True)
    assert prepared.plan == plan
    assert OnPlaySource.read(tmp_path / "onplay") == prepared.description
    assert OnPlaySource.read(tmp_path / "hls") is None  # an eager ladder is not made on play
    for rung in DEFAULT_LADDER.rungs:
        # The same playlist, the same init segment (edit list included), before any segment exists.
        eager_dir, onplay_dir = tmp_path / "hls" / rung.name, tmp_path / "onplay" / rung.name
        assert (onplay_dir / MEDIA_PLAYLIST).read_text() == (eager_dir / MEDIA_PLAYLIST).read_text()
        assert (onplay_dir / INIT_SEGMENT).read_bytes() == (eager_dir / INIT_SEGMENT).read_bytes()
        assert sorted(p.name for p in onplay_dir.iterdir()) == sorted([INIT_SEGMENT, MEDIA_PLAYLIST])
    master = parse_master_playlist((tmp_path / "onplay" / MASTER_PLAYLIST).read_text())
    eager_master = parse_master_playlist((tmp_path / "hls" / MASTER_PLAYLIST).read_text())
    assert [v.uri for v in master.variants] == [v.uri for v in eager_master.variants]
    assert master.session_data == eager_master.session_data  # the track gain, from the analysis
    assert all(v.bandwidth and v.bandwidth > (v.average_bandwidth or 0) for v in master.variants)

    # Its segments, made from the description alone, complete it: ffmpeg plays it whole.
    described = prepared.description
    rung = DEFAULT_LADDER.rungs[-1]
    async for index, data in segments_from(
        Path(described.source),
        described.plan(),
        rung,
        0,
        edges=described.edges,
        tail_from=described.tail_from,
    ):
        (tmp_path / "onplay" / rung.name / segment_name(index)).write_bytes(data)
    played = pcm(tmp_path / "onplay" / rung.name / MEDIA_PLAYLIST)
    assert len(played) == plan.frames * AAC_FRAME == len(pcm(tmp_path / "hls" / rung.name / MEDIA_PLAYLIST))

    # A second prepare finds the first's ladder and leaves it.
    again = await prepare(source, tmp_path / "onplay")
    assert again.plan == plan and (tmp_path / "onplay" / rung.name / segment_name(0)).exists()
