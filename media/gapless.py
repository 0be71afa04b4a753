"""Gapless bookkeeping: how many samples an AAC rendition holds before and after the music, and the MP4
edit list that tells decoders to drop them.

Every AAC encoder starts with *priming* samples (the first frame's overlap; 1024 for ffmpeg's encoder)
and pads the last frame to a whole 1024 samples. HLS has no tag for either, so a player that does not
trim them plays a few tens of milliseconds of silence at every track change. ISO/IEC 14496-12 has the
answer: the edit list (``elst``) of the track's ``moov`` says which stretch of the media timeline is
presented — ``media_time`` skips the priming, ``segment_duration`` ends before the padding. Apple's
HLS authoring spec asks for exactly this in fMP4 init segments; Safari and AVFoundation honour it.

ffmpeg's HLS muxer writes the init segment before any audio exists (an empty ``moov``), so its edit
list says ``media_time = 0`` and no duration. :func:`write_edit_list` rewrites it once the pass is
over, in place (same box sizes) and atomically. The movie timescale is set to the sample rate, so the
duration is exact to the sample.

All counts are per channel (sample frames).
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AAC_FRAME = 1024
"""Samples per AAC-LC frame."""
EDGE_SAMPLES = 4096
"""Samples of the music's own edges, mirrored and faded, that frame it in the encoder's input (see
``media.commands.hls_ladder_argv``); trimmed by the edit list like the priming. Measured on a sweep cut
mid-frame into three tracks: with none the AAC coder smears the jump from silence into the music over
its first and last milliseconds, and the joins of the decoded tracks jump by 2-3x the signal's own
largest step; from 4096 (93 ms at 44.1 kHz) the joins stay below it on every rung at both rates,
64 kbit/s included (2048 was enough at 48 kHz only). A player that ignores edit lists hears these
milliseconds of the track's own edge, faded, where it heard encoder silence before."""
EDGED_MIN_MS = 1000
"""Shorter tracks get no edges (a mirror longer than the music would not be the music's)."""


def edges_for(duration_ms: int, estimated: bool, sample_rate: int) -> tuple[int, int | None]:
    """(edge samples, where the tail mirror starts) for a source of ``duration_ms``; see
    ``media.commands.hls_ladder_argv``. The tail needs to know roughly where the music ends: an
    estimated duration may be several percent off, so such a file gets only the head mirror (its end
    then meets encoder silence)."""
    if duration_ms < EDGED_MIN_MS:
        return 0, None
    if estimated:
        return EDGE_SAMPLES, None
    return EDGE_SAMPLES, duration_ms * sample_rate // 1000 - EDGE_SAMPLES


def trailing_samples(source_samples: int, edges: int, tail_from: int | None) -> int:
    """Samples of the mirrored tail that follow the music: from ``tail_from`` to the music's end."""
    return max(0, source_samples - max(0, tail_from)) if tail_from is not None and edges else 0


FFMPEG_AAC_PRIMING = 1024
"""The priming of ffmpeg's native AAC encoder (``initial_padding`` in libavcodec/aacenc.c). ffmpeg
prints it as ``delay 1024`` beside a plain output stream, but not for HLS variants, so the constant
it is (tests/delivery/test_gapless.py decodes every rung and checks the trim to the sample)."""

_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"moof", b"traf"})


class Mp4Error(ValueError):
    """The file is not the MP4 this module expects (a box is missing or cut short)."""


@dataclass(frozen=True, slots=True)
class Gapless:
    """What a rendition holds around the music: ``priming + source + padding`` = its encoded samples."""

    sample_rate: int
    priming_samples: int
    padding_samples: int
    source_samples: int

    def as_dict(self) -> dict[str, int]:
        """The shape stored in ``tracks.gapless`` and returned by the API."""
        return {
            "sample_rate": self.sample_rate,
            "priming_samples": self.priming_samples,
            "padding_samples": self.padding_samples,
            "source_samples": self.source_samples,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Gapless | None:
        if not doc:
            return None
        try:
            return cls(
                int(doc["sample_rate"]),
                int(doc["priming_samples"]),
                int(doc["padding_samples"]),
                int(doc["source_samples"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def measured(cls, sample_rate: int, priming: int, source: int, frames: int, trailing: int = 0) -> Gapless:
        """From what came before the music (``priming``), the music's samples, the AAC frames written and
        what was appended after the music (``trailing``); :class:`Mp4Error` when they cannot belong
        together (the encoder's own padding fills less than two frames)."""
        padding = frames * AAC_FRAME - priming - source
        if priming < 0 or source <= 0 or not 0 <= padding - trailing < 2 * AAC_FRAME:
            raise Mp4Error(f"{frames} frames encoded for {source} samples with {priming} before them")
        return cls(sample_rate, priming, padding, source)


@dataclass(frozen=True, slots=True)
class EditList:
    """The first edit of a track: ``media_time`` in media (sample) units, ``duration`` in movie units."""

    media_time: int
    duration: int
    movie_timescale: int
    media_timescale: int


# --- reading boxes -------------------------------------------------------------------------------


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of the box, offset after it) of each box in ``data[start:end]``."""
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if offset + 16 > end:
                raise Mp4Error("a large box is cut short")
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise Mp4Error(f"box {kind!r} at {offset} runs past its parent")
        yield kind, offset, offset + size
        offset += size


def _find(data: bytes | bytearray, path: list[bytes], start: int = 0, end: int | None = None) -> list[int]:
    """Offsets of every box at ``path`` (e.g. ``[b"moov", b"trak", b"edts", b"elst"]``)."""
    end = len(data) if end is None else end
    found: list[int] = []
    for kind, at, after in _boxes(data, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            found.append(at)
        elif kind in _CONTAINERS:
            found.extend(_find(data, path[1:], at + 8, after))
    return found


def _one(data: bytes | bytearray, path: list[bytes]) -> int:
    found = _find(data, path)
    if len(found) != 1:
        raise Mp4Error(f"expected one {b'/'.join(path).decode()} box, found {len(found)}")
    return found[0]


def _timescale_offset(data: bytes | bytearray, box: int) -> int:
    """Offset of the timescale field of an ``mvhd`` or ``mdhd`` box at ``box`` (versions 0 and 1)."""
    version = data[box + 8]
    return box + 12 + (16 if version == 1 else 8)


def read_edit_list(init: Path) -> EditList:
    """The first edit of the (only) track of an init segment. Blocking."""
    data = init.read_bytes()
    mvhd = _one(data, [b"moov", b"mvhd"])
    mdhd = _one(data, [b"moov", b"trak", b"mdia", b"mdhd"])
    elst = _one(data, [b"moov", b"trak", b"edts", b"elst"])
    (movie_ts,) = struct.unpack_from(">I", data, _timescale_offset(data, mvhd))
    (media_ts,) = struct.unpack_from(">I", data, _timescale_offset(data, mdhd))
    version = data[elst + 8]
    (count,) = struct.unpack_from(">I", data, elst + 12)
    if count < 1:
        raise Mp4Error("the edit list is empty")
    fmt = ">Qq" if version == 1 else ">Ii"
    duration, media_time = struct.unpack_from(fmt, data, elst + 16)
    return EditList(media_time, duration, movie_ts, media_ts)


def encoded_frames(segments: list[Path]) -> int:
    """How many samples (AAC frames, for audio) the ``trun`` boxes of these fMP4 segments hold. Blocking.

    Frames, not durations: ffmpeg gives the last frame the duration of the music it still holds, so
    the durations add up to priming + music, while a decoder outputs every frame whole."""
    total = 0
    for path in segments:
        data = path.read_bytes()
        for kind, at, after in _boxes(data, 0, len(data)):
            if kind != b"moof":
                continue
            for inner, traf, traf_end in _boxes(data, at + 8, after):
                if inner != b"traf":
                    continue
                for leaf, box, _ in _boxes(data, traf + 8, traf_end):
                    if leaf == b"trun":
                        total += struct.unpack_from(">I", data, box + 12)[0]
    return total


# --- writing the edit list -----------------------------------------------------------------------


def write_edit_list(init: Path, gapless: Gapless) -> None:
    """Make the init segment's edit list present only the music: skip the priming, stop before the
    padding. Same box sizes, written through a temp file and a rename. Blocking.

    The movie timescale becomes the sample rate (the durations in ``mvhd``, ``tkhd`` and ``mehd``, all
    in movie units, are rescaled with it), so the edit's duration is a whole number of samples.
    """
    data = bytearray(init.read_bytes())
    mvhd = _one(data, [b"moov", b"mvhd"])
    mdhd = _one(data, [b"moov", b"trak", b"mdia", b"mdhd"])
    elst = _one(data, [b"moov", b"trak", b"edts", b"elst"])
    (media_ts,) = struct.unpack_from(">I", data, _timescale_offset(data, mdhd))
    if media_ts != gapless.sample_rate:
        raise Mp4Error(f"the track's timescale is {media_ts}, not the sample rate {gapless.sample_rate}")
    ts_at = _timescale_offset(data, mvhd)
    (old_ts,) = struct.unpack_from(">I", data, ts_at)
    new_ts = gapless.sample_rate

    def rescale(at: int, wide: bool) -> None:
        fmt = ">Q" if wide else ">I"
        (value,) = struct.unpack_from(fmt, data, at)
        if value not in (0, (1 << (64 if wide else 32)) - 1):  # 0 and all-ones mean "unknown"
            struct.pack_into(fmt, data, at, value * new_ts // old_ts)

    struct.pack_into(">I", data, ts_at, new_ts)
    rescale(ts_at + 4, data[mvhd + 8] == 1)  # mvhd duration follows its timescale
    for tkhd in _find(data, [b"moov", b"trak", b"tkhd"]):
        wide = data[tkhd + 8] == 1
        rescale(tkhd + 12 + (16 if wide else 8) + 4 + 4, wide)  # after times, track_ID, reserved
    for mehd in _find(data, [b"moov", b"mvex", b"mehd"]):
        rescale(mehd + 12, data[mehd + 8] == 1)

    version = data[elst + 8]
    (count,) = struct.unpack_from(">I", data, elst + 12)
    if count != 1:
        raise Mp4Error(f"expected one edit, found {count}")
    fmt = ">Qq" if version == 1 else ">Ii"
    if version != 1 and gapless.source_samples >= 1 << 32:
        raise Mp4Error("the track is too long for a 32-bit edit list")
    struct.pack_into(fmt, data, elst + 16, gapless.source_samples, gapless.priming_samples)

    tmp = init.with_name(f".{init.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, init)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
