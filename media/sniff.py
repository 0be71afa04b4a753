"""What a file is, decided from its first bytes: the one demuxer ffmpeg may use to read it.

This is the heart of the input policy (:mod:`media.ffmpeg` applies it to every ffmpeg and ffprobe run).
ffmpeg left to guess would also take playlists and manifests (HLS, DASH, ffconcat, image sequences…)
that open *other* files: a text file uploaded as ``x.mp3`` naming another user's original would be
transcoded and published. So nothing is left to ffmpeg's guess, nor to the file's name: the first
bytes must match one of the real audio containers below (or, for covers, image formats), and ffmpeg
is then told to use that demuxer and no other. None of these demuxers opens further inputs.

An ID3v2 tag may precede MP3, ADTS AAC and FLAC streams (ffmpeg reads one in front of any format): it
is stepped over to see what follows. Its frames are measured on the way: text frames above
``ID3_FRAME_BUDGET`` (a 5 MB lyrics frame costs ffmpeg a minute and mutagen seconds: both parse such
frames in quadratic time) are reported, so that readers can leave them out (see :class:`Sniffed`).

Pure functions over bytes and a seekable binary file; no ffmpeg here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

HEAD_BYTES = 64 * 1024
"""How much of the file (after any ID3v2 tag) is looked at."""
ID3_FRAME_BUDGET = 256 * 1024
"""Largest ID3v2 text frame (lyrics, comments, private data…) readers parse; pictures are exempt."""
_ID3_PICTURES = frozenset({"APIC", "PIC"})
_FRAME_ID_RE = re.compile(rb"[A-Z0-9]{3,4}")

AUDIO_DEMUXERS = frozenset(
    {"mp3", "aac", "flac", "ogg", "wav", "aiff", "mov", "matroska", "ape", "wv", "tta", "caf", "asf"}
    | {"mpc", "mpc8", "dsf", "au", "amr"}
)
"""ffmpeg demuxers that originals may be read with: single-file audio containers only."""
IMAGE_DEMUXERS = frozenset({"jpeg_pipe", "png_pipe", "webp_pipe", "bmp_pipe", "gif"})
"""ffmpeg demuxers that cover images may be read with (the ``*_pipe`` ones read one file as one image,
where ``image2`` would take the name as a pattern of a numbered sequence)."""

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"fLaC", "flac"),
    (0, b"OggS", "ogg"),
    (0, b"\x1a\x45\xdf\xa3", "matroska"),
    (0, b"MAC ", "ape"),
    (0, b"wvpk", "wv"),
    (0, b"TTA1", "tta"),
    (0, b"caff", "caf"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "asf"),
    (0, b"MPCK", "mpc8"),
    (0, b"MP+", "mpc"),
    (0, b"DSD ", "dsf"),
    (0, b".snd", "au"),
    (0, b"#!AMR", "amr"),
    (4, b"ftyp", "mov"),
)
_RIFF_WAVE = (b"RIFF", b"RF64", b"BW64")
_MP4_FIRST_ATOMS = (b"moov", b"mdat", b"free", b"skip", b"wide")
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg_pipe"),
    (b"\x89PNG\r\n\x1a\n", "png_pipe"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp_pipe"),
)


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What the first bytes say.

    ``demuxer`` is the only ffmpeg demuxer to read the file with. ``id3_size`` is the length of a
    leading ID3v2 tag (0 when there is none); ``oversized_frames`` names its frames over the budget:
    when there are any, ffmpeg is told to start reading after the tag (the tag, cover included, is
    dropped for decoding) and mutagen leaves those frames unparsed.
    """

    demuxer: str
    id3_size: int = 0
    oversized_frames: frozenset[str] = frozenset()

    @property
    def skip_bytes(self) -> int:
        """Bytes ffmpeg should skip before reading (the whole ID3v2 tag when it is over the budget)."""
        return self.id3_size if self.oversized_frames else 0


def sniff_file(f: BinaryIO, *, images: bool = False) -> Sniffed | None:
    """The demuxer for the file open in ``f`` (audio, or also images with ``images``); None if it is
    none of the formats we read."""
    head = f.read(HEAD_BYTES)
    if images:
        for magic, image in _IMAGE_MAGIC:
            if head.startswith(magic):
                return Sniffed(image)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return Sniffed("webp_pipe")
    tag = id3v2_size(head)
    if not tag:
        demuxer = sniff_audio(head)
        return Sniffed(demuxer) if demuxer else None
    oversized = oversized_id3_frames(f)
    f.seek(tag)
    after = f.read(HEAD_BYTES)
    # What may follow an ID3v2 tag: an MPEG audio stream, ADTS AAC or FLAC (each read by ffmpeg
    # with the tag in front). A second tag (some taggers stack them) is not followed further.
    demuxer = sniff_audio(after)
    if demuxer not in ("mp3", "aac", "flac"):
        return None
    return Sniffed(demuxer, tag, oversized)


def sniff_audio(head: bytes) -> str | None:
    """The demuxer of an audio stream starting with ``head`` (no ID3v2 tag in front); None if unknown."""
    for offset, magic, demuxer in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return demuxer
    if head[:4] in _RIFF_WAVE and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] in _MP4_FIRST_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return "mov"
    if _adts_at(head, 0):
        return "aac"
    if _mpeg_audio_stream(head):
        return "mp3"
    return None


def id3v2_size(head: bytes) -> int:
    """Length of the ID3v2 tag at the start of ``head`` (header and footer included), 0 if none."""
    if len(head) < 10 or head[:3] != b"ID3" or head[3] == 0xFF or head[4] == 0xFF:
        return 0
    size = head[6:10]
    if any(b & 0x80 for b in size):
        return 0
    body = (size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + body + footer


def oversized_id3_frames(f: BinaryIO) -> frozenset[str]:
    """IDs of the over-budget frames of the ID3v2 tag at the start of ``f`` (none when the whole tag
    is within the budget: only its header is read then)."""
    f.seek(0)
    size = id3v2_size(f.read(10))
    return _oversized_id3_frames(f, size) if size > ID3_FRAME_BUDGET else frozenset()


def _oversized_id3_frames(f: BinaryIO, tag_size: int) -> frozenset[str]:
    """IDs of the tag's non-picture frames over :data:`ID3_FRAME_BUDGET` (read header by header)."""
    f.seek(0)
    header = f.read(10)
    version, flags = header[3], header[5]
    if version not in (2, 3, 4) or (flags & 0x40 and version == 2):
        return frozenset()
    id_len, size_len, header_len = (3, 3, 6) if version == 2 else (4, 4, 10)
    position = 10
    if flags & 0x40:  # an extended header (2.3: size excludes itself; 2.4: synchsafe, includes itself)
        raw = f.read(4)
        extended = _synchsafe(raw) if version == 4 else int.from_bytes(raw, "big") + 4
        position += extended
    found: set[str] = set()
    end = tag_size - (10 if flags & 0x10 else 0)
    while position + header_len <= end:
        f.seek(position)
        frame = f.read(header_len)
        frame_id = frame[:id_len]
        if len(frame) < header_len or not _FRAME_ID_RE.fullmatch(frame_id):
            break  # padding, or garbage: nothing more to measure
        raw_size = frame[id_len : id_len + size_len]
        size = _synchsafe(raw_size) if version == 4 else int.from_bytes(raw_size, "big")
        name = frame_id.decode("ascii")
        if size > ID3_FRAME_BUDGET and name not in _ID3_PICTURES:
            found.add(name)
        position += header_len + size
    return frozenset(found)


def _synchsafe(raw: bytes) -> int:
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
    return value


def _adts_at(head: bytes, at: int) -> bool:
    if len(head) < at + 7:
        return False
    # 12 sync bits, MPEG version any, layer 00; a frame length of at least the 7-byte header.
    if head[at] != 0xFF or head[at + 1] & 0xF6 != 0xF0:
        return False
    length = ((head[at + 3] & 0x03) << 11) | (head[at + 4] << 3) | (head[at + 5] >> 5)
    return length >= 7 and (head[at + 2] >> 2) & 0x0F < 13


_MPEG_BITRATES_KBPS = {
    # (version 1?, layer) -> bitrate index table
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(head: bytes, at: int) -> int:
    """Length of the MPEG audio frame whose header starts at ``at``; 0 if there is no valid header."""
    if len(head) < at + 4 or head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
        return 0
    version = (head[at + 1] >> 3) & 0x03  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = 4 - ((head[at + 1] >> 1) & 0x03)  # 4 means the reserved value 00
    bitrate_index = head[at + 2] >> 4
    rate_index = (head[at + 2] >> 2) & 0x03
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return 0  # free-format streams (index 0) are not worth guessing at
    bitrate = _MPEG_BITRATES_KBPS[(version == 3, layer)][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    padding = (head[at + 2] >> 1) & 0x01
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    per_frame = 144 if layer == 2 or version == 3 else 72
    return per_frame * bitrate // rate + padding


def _mpeg_audio_stream(head: bytes) -> bool:
    """An MPEG audio (MP1/2/3) stream: a frame header at the start, or, after some junk, two frames
    back to back (a lone ``0xFFE`` pattern in random bytes is common, two linked ones are not)."""
    if _mpeg_frame_length(head, 0):
        return True
    limit = min(len(head), HEAD_BYTES) - 4
    at = head.find(b"\xff", 1)
    while 0 <= at < limit:
        length = _mpeg_frame_length(head, at)
        if length and _mpeg_frame_length(head, at + length):
            return True
        at = head.find(b"\xff", at + 1)
    return False
