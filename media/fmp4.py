"""fMP4 media segments of AAC frames, written the way ffmpeg's HLS muxer writes them, and ADTS parsing.

A ladder made on play encodes from wherever a listener starts and keeps only the frames the segment
plan (:mod:`media.hls_plan`) assigns to each segment; ffmpeg's own HLS muxer cuts by time from the
start of its run, which is not where the plan's boundaries fall for a run that starts mid-track. So the
encoder writes ADTS (each AAC frame behind a 7-byte header) and this module packs the frames:

``styp`` · ``sidx`` (one reference: the whole segment, starting with a SAP) · ``moof`` (``mfhd`` with the
segment's sequence number, ``traf``: ``tfhd`` default-base-is-moof with default duration 1024, size and
sample flags; ``tfdt`` version 1, the segment's first frame times 1024; ``trun`` with each frame's size,
and each frame's duration in the last segment, whose last frame lasts only the music it holds) · ``mdat``.
Box for box what ffmpeg 5.1 writes for the eager ladder (``tests/media/test_onplay.py`` reads both).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from media.gapless import AAC_FRAME

_SAMPLE_FLAGS = 0x02000000
"""sample_depends_on = 2: every AAC frame decodes without another (ffmpeg writes the same)."""
_TFHD_FLAGS = 0x020000 | 0x08 | 0x10 | 0x20
"""default-base-is-moof, default sample duration, default sample size, default sample flags."""
_TRUN_SIZES = 0x000001 | 0x000200
"""data offset, per-sample size."""
_TRUN_SIZES_DURATIONS = _TRUN_SIZES | 0x000100
"""... and per-sample duration (the last segment, whose last frame is shorter)."""
ADTS_HEADER = 7


class AdtsError(ValueError):
    """The encoder's output is not the ADTS this module reads (a bad sync word, a CRC, several blocks)."""


def split_adts(data: bytes) -> tuple[list[bytes], bytes]:
    """The whole AAC frames at the start of ``data`` (headers removed) and the bytes left over (the
    start of a frame still arriving)."""
    frames: list[bytes] = []
    at = 0
    while len(data) - at >= ADTS_HEADER:
        if data[at] != 0xFF or data[at + 1] & 0xF0 != 0xF0:
            raise AdtsError(f"no ADTS sync word at byte {at}")
        if not data[at + 1] & 0x01:
            raise AdtsError("ADTS frames with a CRC are not expected from the encoder")
        length = ((data[at + 3] & 0x03) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        if data[at + 6] & 0x03:
            raise AdtsError("ADTS frames holding several raw blocks are not expected from the encoder")
        if length < ADTS_HEADER:
            raise AdtsError(f"an ADTS frame of {length} bytes")
        if len(data) - at < length:
            break
        frames.append(data[at + ADTS_HEADER : at + length])
        at += length
    return frames, data[at:]


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def media_segment(
    frames: Sequence[bytes],
    *,
    sequence: int,
    first_frame: int,
    sample_rate: int,
    last_frame_samples: int | None,
) -> bytes:
    """One fMP4 media segment holding ``frames`` (raw AAC frames), the first being frame ``first_frame``
    of the rendition; ``sequence`` is its ``mfhd`` number (ffmpeg counts from 1). ``last_frame_samples``:
    only for the rendition's last segment, the samples its last frame lasts."""
    if not frames:
        raise ValueError("a segment holds at least one frame")
    durations = [AAC_FRAME] * len(frames)
    if last_frame_samples is not None:
        durations[-1] = last_frame_samples
    per_sample_duration = last_frame_samples is not None
    trun_flags = _TRUN_SIZES_DURATIONS if per_sample_duration else _TRUN_SIZES
    base_time = first_frame * AAC_FRAME

    def moof(data_offset: int) -> bytes:
        samples = b"".join(
            struct.pack(">II", d, len(f)) if per_sample_duration else struct.pack(">I", len(f))
            for d, f in zip(durations, frames, strict=True)
        )
        return _box(
            b"moof",
            _full(b"mfhd", 0, 0, struct.pack(">I", sequence)),
            _box(
                b"traf",
                _full(
                    b"tfhd", 0, _TFHD_FLAGS, struct.pack(">IIII", 1, AAC_FRAME, len(frames[0]), _SAMPLE_FLAGS)
                ),
                _full(b"tfdt", 1, 0, struct.pack(">Q", base_time)),
                _full(b"trun", 0, trun_flags, struct.pack(">Ii", len(frames), data_offset), samples),
            ),
        )

    # The data offset counts from the start of the moof to the first frame in the mdat behind it.
    moof_size = len(moof(0))
    fragment = moof(moof_size + 8) + _box(b"mdat", *frames)
    sidx = _full(
        b"sidx",
        1,
        0,
        struct.pack(">IIQQHH", 1, sample_rate, base_time, 0, 0, 1),
        struct.pack(">III", len(fragment) & 0x7FFFFFFF, sum(durations), 0x80000000),
    )
    styp = _box(b"styp", b"msdh", struct.pack(">I", 0), b"msdh", b"msix")
    return styp + sidx + fragment
