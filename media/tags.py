"""Read tags and the embedded cover of an audio file with mutagen, defensively.

Tags come from whoever made the file, so nothing in them is trusted: strings are NFC-normalised,
stripped of control characters, whitespace-collapsed and capped; numbers are parsed leniently
("3/12" → 3, "2003-05-01" → 2003) and range-checked; covers above ``MAX_COVER_BYTES`` or that are not
a known image format are ignored. A file mutagen cannot parse yields empty :class:`Tags`: reading tags
never raises for a bad file (only for a missing one).

mutagen parses a tag block fully into memory, so a huge embedded picture in ID3/FLAC/MP4 is read once
and then dropped. For Vorbis comments (Ogg/Opus) the picture is base64 text, and its size is checked
before it is decoded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen._vorbis import VCommentDict  # the base of FLAC, Ogg Vorbis/Opus/FLAC comments
from mutagen.flac import Picture
from mutagen.id3 import ID3, Frames
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4Cover, MP4Tags

from media.lyrics import Lyrics, lyrics_from_tags, read_sidecar
from media.riff_info import read_riff_info
from media.sniff import oversized_id3_frames

log = logging.getLogger(__name__)

MAX_TEXT = 200
MAX_COVER_BYTES = 10 * 1024 * 1024
_FRONT_COVER = 3  # APIC / FLAC picture type "Cover (front)"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
# Bidi embeddings, overrides and isolates can make a title display as something else (spoofing);
# plain marks (LRM/RLM) are kept, mixed-direction text legitimately needs them.
_BIDI_CONTROL_RE = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_SPACE_RE = re.compile(r"\s+")
# Invisible characters are fine inside a name (ZWJ joins emoji) but not at its ends.
_EDGES_RE = re.compile(r"^[\s\u200b-\u200d\u2060]+|[\s\u200b-\u200d\u2060]+$")
_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_NUMBER_RE = re.compile(r"^\s*(\d{1,4})(?!\d)")


@dataclass(frozen=True, slots=True)
class Cover:
    data: bytes
    mime: str
    """Sniffed from the bytes (image/jpeg, image/png, image/gif, image/webp), not taken from the tag."""


@dataclass(frozen=True, slots=True)
class ReplayGain:
    """ReplayGain 2.0 figures a file carries (reference -18 LUFS; peaks as linear sample peaks)."""

    track_gain_db: float
    track_peak: float | None = None
    album_gain_db: float | None = None
    album_peak: float | None = None

    def loudness(self) -> dict[str, float | None]:
        """The track's ``loudness`` object from these figures, as if measured: integrated loudness is
        what the gain brings to the reference; the peaks are sample peaks (a true peak is a little
        higher), in dBFS."""
        return {
            "integrated_lufs": round(RG_REFERENCE_LUFS - self.track_gain_db, 2),
            "true_peak_dbtp": _peak_db(self.track_peak),
            "range_lu": None,
            "track_gain_db": self.track_gain_db,
            "album_gain_db": self.album_gain_db,
            "album_true_peak_dbtp": _peak_db(self.album_peak),
        }


RG_REFERENCE_LUFS = -18.0
R128_REFERENCE_LUFS = -23.0
"""Opus's R128_TRACK_GAIN is a Q7.8 gain to this level (RFC 7845 §5.2.1), 5 dB under ReplayGain's."""


def _peak_db(peak: float | None) -> float | None:
    return round(20 * math.log10(peak), 2) if peak else None


@dataclass(frozen=True, slots=True)
class Tags:
    """What a file says about itself. Every field may be None."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    genre: str | None = None
    year: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    duration_ms: int | None = None
    cover: Cover | None = None
    lyrics: Lyrics | None = None
    replaygain: ReplayGain | None = None


def read_tags(path: Path, *, sidecar_lyrics: bool = False, cover: bool = True) -> Tags:
    """Tags of ``path``. Blocking (file I/O): from async code use :func:`read_tags_async`.

    ``sidecar_lyrics``: a ``.lrc`` file beside ``path`` gives the lyrics (scans; see media.lyrics).
    ``cover=False`` skips the embedded picture (a library scan has no use for it: the transcoder takes
    covers from the files, and pictures are the bulk of a tag). FileNotFoundError if the file does not
    exist; anything else wrong with the file gives empty or partial tags.

    The file is parsed once, in the format's own tag object (not mutagen's "easy" wrappers, which hide
    pictures and lyrics frames and would need a second parse): text fields are looked up per format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        audio = _parse(path)
    except Exception as exc:  # mutagen raises a zoo (struct.error, IndexError, …) on malformed files
        log.info("tags unreadable", extra={"path": str(path), "error": repr(exc)})
        return Tags()
    if audio is None:
        return Tags()
    raw = getattr(audio, "tags", None)
    text = _text_fields(raw)
    if path.suffix.lower() in (".wav", ".wave") or type(audio).__name__ == "WAVE":
        # ID3 inside a WAV (rare) wins; RIFF INFO fills what it lacks.
        for key, value in read_riff_info(path).items():
            text.setdefault(key, value)
    return Tags(
        title=clean_text(text.get("title")),
        artist=clean_text(text.get("artist")),
        album=clean_text(text.get("album")),
        album_artist=clean_text(text.get("albumartist")),
        genre=clean_text(text.get("genre")),
        year=parse_year(text.get("date") or text.get("originaldate") or text.get("year")),
        track_no=parse_number(text.get("tracknumber")),
        disc_no=parse_number(text.get("discnumber")),
        duration_ms=_duration_ms(audio),
        cover=_safe_cover(path, audio, raw) if cover else None,
        lyrics=(read_sidecar(path) if sidecar_lyrics else None) or _safe_lyrics(path, audio, raw),
        replaygain=_replaygain(raw),
    )


def _parse(path: Path) -> Any:
    """mutagen's reading of ``path``; ID3 frames over :data:`media.sniff.ID3_FRAME_BUDGET` are left
    unparsed (mutagen decodes a 5 MB lyrics frame in seconds: the budget bounds the work per file)."""
    with path.open("rb") as f:
        oversized = oversized_id3_frames(f)
    if not oversized:
        return mutagen.File(path)
    log.info("oversized tag frames left out", extra={"path": str(path), "frames": sorted(oversized)})
    return MP3(path, known_frames={k: v for k, v in Frames.items() if k not in oversized})


async def read_tags_async(path: Path) -> Tags:
    """:func:`read_tags` in a worker thread, so the event loop is not blocked by file I/O."""
    return await asyncio.to_thread(read_tags, path)


# --- text cleaning -------------------------------------------------------------------------------


def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """First non-empty value, NFC, without control characters, whitespace collapsed, at most ``limit``."""
    for item in _as_list(value):
        text = item if isinstance(item, str) else str(item)
        text = text[: limit * 8]  # bound the work on absurd values before normalising
        text = unicodedata.normalize("NFC", text)
        text = _BIDI_CONTROL_RE.sub("", text)
        text = _EDGES_RE.sub("", _SPACE_RE.sub(" ", _CONTROL_RE.sub(" ", text)))
        # Lone surrogates (from broken UTF-16 tags) cannot be encoded, and would break JSON/BSON later.
        text = text.encode("utf-8", "replace").decode("utf-8")
        if text:
            return _EDGES_RE.sub("", text[:limit])
    return None


def parse_year(value: Any) -> int | None:
    """The first plausible four-digit year in the value ("2003", "2003-05-01", "May 2003")."""
    for item in _as_list(value):
        match = _YEAR_RE.search(str(item)[:64])
        if match and 1000 <= int(match.group(1)) <= 2999:
            return int(match.group(1))
    return None


def parse_number(value: Any) -> int | None:
    """A track/disc number: "3", "03", "3/12" → 3; 0, negative, non-numeric and absurd values → None."""
    for item in _as_list(value):
        if isinstance(item, tuple | list) and item:  # MP4 trkn/disk are (number, total) pairs
            item = item[0]
        match = _NUMBER_RE.match(str(item)[:32])
        if match and int(match.group(1)) > 0:
            return int(match.group(1))
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes | tuple | int):
        return [value]
    try:
        return list(value)[:16]
    except TypeError:
        return [value]


_ID3_FRAMES = {
    "title": "TIT2",
    "artist": "TPE1",
    "album": "TALB",
    "albumartist": "TPE2",
    "genre": "TCON",
    "date": "TDRC",
    "originaldate": "TDOR",
    "year": "TYER",
    "tracknumber": "TRCK",
    "discnumber": "TPOS",
}
"""Our field names → ID3v2.4 frames (mutagen upgrades v2.3 frames such as TYER to TDRC on load)."""

_MP4_ATOMS = {
    "title": "\xa9nam",
    "artist": "\xa9ART",
    "album": "\xa9alb",
    "albumartist": "aART",
    "genre": "\xa9gen",
    "date": "\xa9day",
    "tracknumber": "trkn",  # (number, total) pairs, which parse_number takes
    "discnumber": "disk",
}

_FIELDS = tuple(_ID3_FRAMES)


def _text_fields(tags: Any) -> dict[str, Any]:
    """The text fields of a tag object, by our names (those of mutagen's easy interfaces)."""
    if tags is None:
        return {}
    fields: dict[str, Any] = {}
    if isinstance(tags, ID3):
        for key, frame_id in _ID3_FRAMES.items():
            frame = tags.get(frame_id)
            if frame is None or not getattr(frame, "text", None):
                continue
            # TCON may hold ID3v1 genre numbers ("(17)"); .genres spells them out, as EasyID3 does.
            values = frame.genres if frame_id == "TCON" else frame.text
            fields[key] = [str(t) for t in values]
        return fields
    if isinstance(tags, MP4Tags):
        for key, atom in _MP4_ATOMS.items():
            if value := tags.get(atom):
                fields[key] = value
        return fields
    for key in _FIELDS:  # Vorbis comments, APEv2: keys are the easy names, case-insensitive
        try:
            value = tags.get(key)
        except Exception:  # some tag classes raise on keys they cannot hold
            value = None
        if value:
            fields[key] = value
    return fields


_GAIN_RE = re.compile(r"^\s*([+-]?\d{1,3}(?:\.\d+)?)\s*(?:dB)?\s*$", re.IGNORECASE)
_PEAK_RE = re.compile(r"^\s*(\d{1,2}(?:\.\d+)?)\s*$")
_RG_KEYS = (
    "replaygain_track_gain",
    "replaygain_track_peak",
    "replaygain_album_gain",
    "replaygain_album_peak",
)


def _replaygain(tags: Any) -> ReplayGain | None:
    """ReplayGain figures from Vorbis comments, ID3 ``TXXX`` frames or MP4 freeform atoms, or Opus's
    ``R128_TRACK_GAIN``/``R128_ALBUM_GAIN``; None without a usable track gain. Out-of-range values are
    ignored (a gain beyond ±60 dB or a peak beyond 10 is not a measurement)."""
    if tags is None:
        return None
    found: dict[str, str] = {}
    try:
        if isinstance(tags, ID3):
            for frame in tags.getall("TXXX"):
                desc = str(getattr(frame, "desc", "")).lower()
                if desc in _RG_KEYS and frame.text:
                    found[desc] = str(frame.text[0])
        elif isinstance(tags, MP4Tags):
            for key in _RG_KEYS:
                values = tags.get(f"----:com.apple.iTunes:{key}") or tags.get(
                    f"----:com.apple.iTunes:{key.upper()}"
                )
                if values:
                    found[key] = bytes(values[0]).decode("utf-8", "replace")
        elif isinstance(tags, VCommentDict):
            for key in (*_RG_KEYS, "r128_track_gain", "r128_album_gain"):
                if tags.get(key):
                    found[key] = str(tags[key][0])
    except Exception:  # a tag object that cannot be read this way holds no usable gain
        return None
    track = _gain(found.get("replaygain_track_gain"))
    album = _gain(found.get("replaygain_album_gain"))
    if track is None and (r128 := _r128(found.get("r128_track_gain"))) is not None:
        track = r128
        album = _r128(found.get("r128_album_gain"))
    if track is None:
        return None
    return ReplayGain(
        track, _peak(found.get("replaygain_track_peak")), album, _peak(found.get("replaygain_album_peak"))
    )


def _gain(text: str | None) -> float | None:
    match = _GAIN_RE.match(text or "")
    value = float(match.group(1)) if match else None
    return value if value is not None and -60 <= value <= 60 else None


def _peak(text: str | None) -> float | None:
    match = _PEAK_RE.match(text or "")
    value = float(match.group(1)) if match else None
    return value if value is not None and 0 < value <= 10 else None


def _r128(text: str | None) -> float | None:
    """An Opus Q7.8 gain to -23 LUFS, as a ReplayGain gain (to -18 LUFS)."""
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    if not -32768 <= value <= 32767:
        return None
    return round(value / 256 + (RG_REFERENCE_LUFS - R128_REFERENCE_LUFS), 2)


def _duration_ms(audio: Any) -> int | None:
    length = getattr(getattr(audio, "info", None), "length", None)
    if isinstance(length, int | float) and math.isfinite(length) and length > 0:
        return round(length * 1000)
    return None


# --- covers --------------------------------------------------------------------------------------


def sniff_image(data: bytes) -> str | None:
    """MIME type of an image from its first bytes; None for anything we would not serve as a cover."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _safe_cover(path: Path, audio: Any, raw: Any) -> Cover | None:
    try:
        candidates = list(_cover_candidates(audio, raw))
    except Exception as exc:  # a broken picture block must not cost us the text tags
        log.info("cover unreadable", extra={"path": str(path), "error": repr(exc)})
        return None
    for data in candidates:
        if data and len(data) <= MAX_COVER_BYTES and (mime := sniff_image(data)):
            return Cover(bytes(data), mime)
    return None


def _safe_lyrics(path: Path, audio: Any, raw: Any) -> Lyrics | None:
    try:
        return lyrics_from_tags(raw, audio)
    except Exception as exc:  # broken lyrics frames must not cost us the text tags
        log.info("lyrics unreadable", extra={"path": str(path), "error": repr(exc)})
        return None


def _cover_candidates(audio: Any, raw: Any) -> Iterable[bytes]:
    """Picture bytes in preference order (front cover first), per tag format."""
    pictures = getattr(audio, "pictures", None)  # FLAC metadata blocks
    if pictures:
        yield from (p.data for p in sorted(pictures, key=lambda p: p.type != _FRONT_COVER))
    if isinstance(raw, VCommentDict):
        yield from _vorbis_pictures(raw)
    if isinstance(raw, ID3):
        frames = raw.getall("APIC")
        yield from (f.data for f in sorted(frames, key=lambda f: f.type != _FRONT_COVER))
    elif isinstance(raw, MP4Tags):
        yield from (bytes(c) for c in raw.get("covr", []) if isinstance(c, MP4Cover))


def _vorbis_pictures(tags: Any) -> Iterable[bytes]:
    """METADATA_BLOCK_PICTURE (and the legacy COVERART) of Vorbis comments, size-checked before decoding."""
    limit = MAX_COVER_BYTES * 4 // 3 + 4096  # base64 length of the largest picture we accept
    for key, legacy in (("metadata_block_picture", False), ("coverart", True)):
        try:
            values = tags.get(key) or []
        except Exception:  # some tag classes raise on unknown keys
            continue
        for value in values[:8]:
            if not isinstance(value, str) or len(value) > limit:
                continue
            try:
                raw = base64.b64decode(value, validate=False)
                yield raw if legacy else Picture(raw).data
            except (binascii.Error, ValueError, mutagen.MutagenError):
                continue
