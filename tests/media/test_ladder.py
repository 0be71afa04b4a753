"""The ladder profile: what every upload becomes."""

from __future__ import annotations

import dataclasses

import pytest

from media.ladder import AAC_LC_CODEC, DEFAULT_LADDER, Ladder, Rung


def test_default_ladder_is_aac_lc_64_128_256_with_6s_segments() -> None:
    assert [(r.name, r.bitrate, r.codec) for r in DEFAULT_LADDER.rungs] == [
        ("64k", 64_000, AAC_LC_CODEC),
        ("128k", 128_000, AAC_LC_CODEC),
        ("256k", 256_000, AAC_LC_CODEC),
    ]
    assert DEFAULT_LADDER.segment_seconds == 6
    # ffmpeg documents "fast" as worse below 64 kbit/s but better and much faster above.
    assert [r.aac_coder for r in DEFAULT_LADDER.rungs] == ["twoloop", "fast", "fast"]
    assert AAC_LC_CODEC == "mp4a.40.2"


def test_ladder_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LADDER.segment_seconds = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (44_100, 44_100),
        (48_000, 48_000),
        (22_050, 44_100),
        (88_200, 44_100),
        (96_000, 48_000),
        (32_000, 48_000),
        (16_000, 48_000),
        (11_025, 44_100),
        (None, 44_100),
        (37_800, 44_100),
    ],
)
def test_sample_rate_stays_in_the_source_family(source: int | None, expected: int) -> None:
    assert DEFAULT_LADDER.sample_rate_for(source) == expected


def test_rung_lookup() -> None:
    assert DEFAULT_LADDER.rung("128k").bitrate == 128_000
    with pytest.raises(KeyError):
        DEFAULT_LADDER.rung("320k")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Rung("../x", 64_000),
        lambda: Rung("a b", 64_000),
        lambda: Rung("tiny", 1_000),
        lambda: Ladder(rungs=()),
        lambda: Ladder(rungs=(Rung("a", 64_000), Rung("a", 96_000))),
        lambda: Ladder(rungs=(Rung("hi", 256_000), Rung("lo", 64_000))),
        lambda: Ladder(rungs=(Rung("a", 64_000),), segment_seconds=0),
        lambda: Rung("a", 64_000, aac_coder="anmr"),
    ],
)
def test_bad_ladders_are_refused(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        build()
