"""The HLS ladder: which renditions every track is transcoded into.

Audio-only AAC-LC stereo in fMP4 segments of ~6 s. All rungs share one sample rate so that their AAC
frames (1024 samples each) fall on the same instants, which is what makes the segment boundaries of
every rung identical and lets a player switch rungs at any segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AAC_LC_CODEC = "mp4a.40.2"
"""RFC 6381 codec string of AAC-LC, as declared in CODECS of the master playlist."""

_RUNG_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
AAC_CODERS = ("twoloop", "fast")
"""Search methods of ffmpeg's native AAC encoder we allow. "twoloop" is ffmpeg 5.1's default (timed:
it is what runs without ``-aac_coder``). The encoder's maintainer, in ffmpeg commit fcb681ac3edd
(2018): twoloop "sounds decent at low bitrates, however at higher bitrates it sounds worse than the
fast coder ... and needs quite a lot more CPU". Measured here: fast encodes about twice as fast
(docs/PERFORMANCE.md). No listening test of our own backs the quality half of that claim."""


@dataclass(frozen=True, slots=True)
class Rung:
    """One rendition of the ladder.

    ``name`` is also the rung's directory name under ``hls/<track_id>/``, so it is restricted to a safe
    alphabet. ``bitrate`` is the nominal encoder bitrate in bit/s; ``aac_coder`` one of ``AAC_CODERS``.
    """

    name: str
    bitrate: int
    aac_coder: str = "twoloop"
    codec: str = AAC_LC_CODEC

    def __post_init__(self) -> None:
        if not _RUNG_NAME_RE.match(self.name):
            raise ValueError(f"rung name {self.name!r} must match {_RUNG_NAME_RE.pattern}")
        if self.bitrate < 8_000:
            raise ValueError(f"rung {self.name}: bitrate {self.bitrate} bit/s is too low for AAC-LC")
        if self.aac_coder not in AAC_CODERS:
            raise ValueError(f"rung {self.name}: aac_coder must be one of {AAC_CODERS}")


@dataclass(frozen=True, slots=True)
class Ladder:
    """The whole ladder: rungs (lowest bitrate first), target segment duration, allowed sample rates."""

    rungs: tuple[Rung, ...]
    segment_seconds: int = 6
    sample_rates: tuple[int, ...] = (44_100, 48_000)

    def __post_init__(self) -> None:
        if not self.rungs:
            raise ValueError("a ladder needs at least one rung")
        names = [r.name for r in self.rungs]
        if len(set(names)) != len(names):
            raise ValueError(f"rung names must be unique: {names}")
        if list(self.rungs) != sorted(self.rungs, key=lambda r: r.bitrate):
            raise ValueError("rungs must be ordered from the lowest to the highest bitrate")
        if not 1 <= self.segment_seconds <= 30:
            raise ValueError("segment_seconds must be between 1 and 30")
        if not self.sample_rates:
            raise ValueError("a ladder needs at least one sample rate")

    def rung(self, name: str) -> Rung:
        """The rung called ``name``; KeyError when there is none."""
        for r in self.rungs:
            if r.name == name:
                return r
        raise KeyError(name)

    def sample_rate_for(self, source_rate: int | None) -> int:
        """The output sample rate for a source: the allowed rate of the same family, else the first.

        44.1 kHz material (22.05, 88.2, 176.4 kHz…) stays in the 44.1 family and 8/16/32/48/96 kHz
        material in the 48 family, so the resampler only ever changes the rate by an integer ratio or
        not at all, which is cheaper and transparent.
        """
        if source_rate and source_rate in self.sample_rates:
            return source_rate
        if source_rate:
            for rate in self.sample_rates:
                if source_rate % 11_025 == 0 and rate % 11_025 == 0:
                    return rate
                if source_rate % 8_000 == 0 and rate % 8_000 == 0:
                    return rate
        return self.sample_rates[0]


DEFAULT_LADDER = Ladder(
    rungs=(
        # twoloop where "fast" is worse (low bitrates), fast where it is better and much faster (see
        # AAC_CODERS): the ladder then runs at ~35x real time instead of ~22x on 2 cores.
        Rung("64k", 64_000, aac_coder="twoloop"),
        Rung("128k", 128_000, aac_coder="fast"),
        Rung("256k", 256_000, aac_coder="fast"),
    ),
)
"""What every upload is transcoded into unless the caller passes another ladder."""
