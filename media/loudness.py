"""Loudness figures of tracks and albums: EBU R128 measurements and the ReplayGain 2.0 gains from them.

ReplayGain 2.0 plays everything at a reference of -18 LUFS: a track's gain is ``-18 - integrated``.
An album's gain comes from the album's own integrated loudness, i.e. all its audio measured as one
programme (BS.1770 gating over every 400 ms block of every track), never from an average of the track
figures: a quiet interlude between loud songs barely moves the album's loudness, as a listener hears it.

So that an album can be measured without decoding it again, each track keeps the histogram of its
gating blocks' loudness (``BlockHistogram``), taken from the meter's 100 ms momentary readings during
the transcode pass (the momentary loudness *is* the 400 ms block, at a 100 ms step: BS.1770's 75 %
overlap). The album's figure is the two-stage gate over the sum of its tracks' histograms.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

REFERENCE_LUFS = -18.0
"""ReplayGain 2.0's reference level."""
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BIN_LU = 0.1
"""Histogram resolution: each block's loudness is rounded to it, which keeps a track's histogram to a
few hundred bins; over the hundreds of blocks an album holds, the roundings average out."""


def gain_db(loudness_lufs: float | None) -> float | None:
    """ReplayGain 2.0 gain for a programme measured at ``loudness_lufs``."""
    return None if loudness_lufs is None else round(REFERENCE_LUFS - loudness_lufs, 2)


SESSION_DATA_IDS = {
    "track_gain_db": "org.harmonystream.track-gain-db",
    "true_peak_dbtp": "org.harmonystream.track-peak-dbtp",
    "album_gain_db": "org.harmonystream.album-gain-db",
    "album_true_peak_dbtp": "org.harmonystream.album-peak-dbtp",
}
"""The master playlist's ``EXT-X-SESSION-DATA`` (RFC 8216 §4.3.4.4: reverse-DNS DATA-IDs) carrying the
gains, so that an HLS player can level tracks without asking our API. Values in dB, two decimals."""


def session_data(loudness: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The (DATA-ID, VALUE) pairs for a track's ``loudness`` object; fields that are None are left out."""
    if not loudness:
        return ()
    return tuple(
        (data_id, f"{loudness[field]:.2f}")
        for field, data_id in SESSION_DATA_IDS.items()
        if loudness.get(field) is not None
    )


def track_loudness(
    integrated_lufs: float | None, true_peak_dbtp: float | None, range_lu: float | None
) -> dict[str, Any] | None:
    """The ``loudness`` object of a track as the transcode pass measured it (album fields come later)."""
    if integrated_lufs is None and true_peak_dbtp is None:
        return None
    return {
        "integrated_lufs": integrated_lufs,
        "true_peak_dbtp": true_peak_dbtp,
        "range_lu": range_lu,
        "track_gain_db": gain_db(integrated_lufs),
    }


class BlockHistogram:
    """How many 400 ms gating blocks had each loudness (0.1 LU bins)."""

    def __init__(self, counts: Counter[int] | None = None) -> None:
        self.counts: Counter[int] = counts or Counter()

    @classmethod
    def from_metadata(cls, text: str) -> BlockHistogram:
        """The blocks ffmpeg's ``ametadata=mode=print:key=lavfi.r128.M`` wrote (one value per 100 ms
        frame; the first three, before a 400 ms window is full, read as silence and are gated out)."""
        counts: Counter[int] = Counter()
        for line in text.splitlines():
            if line.startswith("lavfi.r128.M="):
                try:
                    value = float(line[13:])
                except ValueError:
                    continue
                if math.isfinite(value):
                    counts[round(value / BIN_LU)] += 1
        return cls(counts)

    def to_doc(self) -> dict[str, int]:
        """Stored as ``{"<bin>": count}`` (string keys: BSON's)."""
        return {str(k): v for k, v in sorted(self.counts.items())}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> BlockHistogram:
        counts: Counter[int] = Counter()
        for key, value in (doc or {}).items():
            try:
                counts[int(key)] += int(value)
            except (TypeError, ValueError):
                continue
        return cls(counts)

    @classmethod
    def merged(cls, histograms: Iterable[BlockHistogram]) -> BlockHistogram:
        total: Counter[int] = Counter()
        for histogram in histograms:
            total.update(histogram.counts)
        return cls(total)

    def integrated_lufs(self) -> float | None:
        """BS.1770-4 integrated loudness: blocks above -70 LUFS, then above (their mean - 10 LU)."""
        above_absolute = {b: n for b, n in self.counts.items() if b * BIN_LU > ABSOLUTE_GATE_LUFS}
        first = _mean_loudness(above_absolute)
        if first is None:
            return None
        gate = first + RELATIVE_GATE_LU
        return _mean_loudness({b: n for b, n in above_absolute.items() if b * BIN_LU > gate})


def _mean_loudness(bins: dict[int, int]) -> float | None:
    """Loudness of the mean energy of these blocks (BS.1770: ``-0.691 + 10 log10`` of mean power)."""
    blocks = sum(bins.values())
    if not blocks:
        return None
    energy = sum(n * 10 ** ((b * BIN_LU + 0.691) / 10) for b, n in bins.items())
    return -0.691 + 10 * math.log10(energy / blocks)
