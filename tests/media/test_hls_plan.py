"""The segment plan against ladders ffmpeg made: the playlists an on-play ladder hands out before any
segment exists must be the ones the eager ladder of the same music has, to the sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.ffmpeg import analyse
from media.gapless import AAC_FRAME, FFMPEG_AAC_PRIMING, edges_for, encoded_frames, trailing_samples
from media.hls_plan import plan_ladder
from media.ladder import DEFAULT_LADDER
from media.layout import INIT_SEGMENT, MEDIA_PLAYLIST
from media.playlists import read_media_playlist, render_media_playlist
from tests.audio import make_audio
from transcoder.pipeline import transcode

# (format, source rate, seconds): both rate families, resampled sources, a file too short for edges,
# one shorter than a segment, lengths that end a frame early and late, an MP3 (encoder delay, padding).
SOURCES = [
    ("flac", 44_100, 13.37),
    ("flac", 48_000, 12.0),
    ("flac", 22_050, 7.3),
    ("flac", 96_000, 6.5),
    ("flac", 32_000, 0.8),
    ("wav", 44_100, 18.02),
    ("mp3", 44_100, 9.9),
    ("ogg", 48_000, 5.1),
]


@pytest.mark.parametrize(("fmt", "rate", "seconds"), SOURCES, ids=lambda v: str(v))
async def test_the_plan_is_the_ladder_ffmpeg_makes(
    tmp_path: Path, fmt: str, rate: int, seconds: float
) -> None:
    source = make_audio(tmp_path / f"source.{fmt}", fmt, seconds, sample_rate=rate)
    result = await transcode(source, tmp_path / "hls")
    assert result.gapless is not None
    ladder_rate = DEFAULT_LADDER.sample_rate_for(rate)

    # The analysis pass (a decode, no encoder) counts what the ladder pass counted.
    analysis = await analyse(source, ladder_rate)
    assert analysis.source_samples == result.gapless.source_samples
    assert analysis.loudness is not None and analysis.loudness.integrated_lufs is not None

    probe = result.probe
    edges, tail_from = edges_for(probe.duration_ms, probe.duration_estimated, ladder_rate)
    plan = plan_ladder(
        analysis.source_samples,
        ladder_rate,
        DEFAULT_LADDER.segment_seconds,
        edges=edges,
        trailing=trailing_samples(analysis.source_samples, edges, tail_from),
    )
    assert plan.gapless == result.gapless
    for rung in DEFAULT_LADDER.rungs:
        made = read_media_playlist(tmp_path / "hls" / rung.name / MEDIA_PLAYLIST)
        planned = plan.media_playlist(INIT_SEGMENT, [s.uri for s in made.segments])
        # Segment by segment: the frames each holds, and the playlist text a player reads.
        frames = [encoded_frames([tmp_path / "hls" / rung.name / s.uri]) for s in made.segments]
        assert frames == list(plan.segment_frames)
        assert render_media_playlist(planned) == render_media_playlist(made)
    assert plan.first_frame(len(plan.segment_frames) - 1) + plan.segment_frames[-1] == plan.frames


def test_a_plan_counts_the_encoders_frames_around_the_music() -> None:
    # 10 s at 48 kHz, no edges: 480,000 samples = 468.75 frames → 469 frames and one of priming.
    plan = plan_ladder(480_000, 48_000, 6)
    assert plan.frames == 470
    # Segment 1 starts at the first frame at or past 6 s: 6 * 48000 / 1024 = 281.25 → frame 282.
    assert plan.segment_frames == (282, 188)
    assert plan.last_frame_samples == 480_000 + FFMPEG_AAC_PRIMING - 469 * AAC_FRAME
    assert plan.durations()[0] == pytest.approx(282 * 1024 / 48_000)
    assert sum(plan.durations()) == pytest.approx((480_000 + FFMPEG_AAC_PRIMING) / 48_000)
    assert plan.gapless.padding_samples == 470 * AAC_FRAME - FFMPEG_AAC_PRIMING - 480_000
    with pytest.raises(IndexError):
        plan.first_frame(2)
    with pytest.raises(ValueError, match="segment names"):
        plan.media_playlist(INIT_SEGMENT, ["only_one.m4s"])
