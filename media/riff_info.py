"""RIFF INFO tags of WAV files (what ffmpeg and most WAV editors write); mutagen reads only ID3 there."""

from __future__ import annotations

import struct
from pathlib import Path

# INFO sub-chunk ids, by the field names mutagen's easy interface uses.
_FIELDS = {
    b"INAM": "title",
    b"IART": "artist",
    b"IPRD": "album",
    b"IGNR": "genre",
    b"ICRD": "date",
    b"ITRK": "tracknumber",
    b"IPRT": "tracknumber",
}
MAX_CHUNKS = 64
"""A real WAV has a handful of chunks; a file claiming more is not worth walking."""
MAX_VALUE = 64 * 1024


def read_riff_info(path: Path) -> dict[str, list[str]]:
    """The INFO fields of a RIFF/WAVE file as {easy field name: [text]}; {} for anything else."""
    fields: dict[str, list[str]] = {}
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return fields
        for _ in range(MAX_CHUNKS):
            head = f.read(8)
            if len(head) < 8:
                break
            chunk_id, size = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk_id == b"LIST" and size >= 4 and size <= MAX_VALUE * 8:
                body = f.read(size)
                if body[:4] == b"INFO":
                    _parse_info(body[4:], fields)
            else:
                # Chunks are word-aligned: an odd size is followed by one pad byte.
                f.seek(size + (size & 1), 1)
                continue
            if size & 1:
                f.seek(1, 1)
    return fields


def _parse_info(body: bytes, fields: dict[str, list[str]]) -> None:
    pos = 0
    while pos + 8 <= len(body):
        sub_id = body[pos : pos + 4]
        (size,) = struct.unpack("<I", body[pos + 4 : pos + 8])
        raw = body[pos + 8 : pos + 8 + min(size, MAX_VALUE)]
        pos += 8 + size + (size & 1)
        name = _FIELDS.get(sub_id)
        if name is None or name in fields:
            continue
        text = _decode(raw.split(b"\x00", 1)[0])
        if text.strip():
            fields[name] = [text]


def _decode(raw: bytes) -> str:
    # The format predates Unicode; modern writers (ffmpeg included) use UTF-8, old ones Latin-1.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
