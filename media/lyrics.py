"""Lyrics: from the file's own tags, from a ``.lrc`` file beside it, or from text its owner uploads.

One shape for all of them, :class:`Lyrics`: lines with their start time in milliseconds when the source
is synced, without when it is plain text.

Sources, in the order a file is searched:
- ID3 (MP3, WAV, AIFF): ``SYLT`` (synced; times in milliseconds, or in MPEG frames, which are turned
  into milliseconds with the file's frame length) before ``USLT`` (unsynced, but may hold LRC text).
- Vorbis comments (FLAC, Ogg, Opus): ``LYRICS``, then ``UNSYNCEDLYRICS``.
- MP4: ``©lyr``.
- A sidecar file: the audio file's name with ``.lrc`` (scans only; an upload is a single file).
Any text is read as LRC when it holds time tags (``[mm:ss.xx]``), else as plain lines.

Like tags, lyrics come from whoever made the file: text is NFC-normalised, stripped of control
characters, and capped (``MAX_LINES`` lines of ``MAX_LINE`` characters).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutagen._vorbis import VCommentDict
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

MAX_LINES = 2000
MAX_LINE = 500
MAX_LRC_BYTES = 512 * 1024
_TIME_TAG_RE = re.compile(r"\[(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?\]")
_META_TAG_RE = re.compile(r"^\[([a-zA-Z#]+):([^\]]*)\]\s*$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
_SPACE_RE = re.compile(r"[ \t]+")
_LRC_HEADERS = frozenset({"ar", "al", "ti", "au", "by", "re", "ve", "length", "offset", "la", "#", "tool"})
_LANG_RE = re.compile(r"^[a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{2,8})?$")


@dataclass(frozen=True, slots=True)
class LyricLine:
    start_ms: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Lyrics:
    synced: bool
    lines: tuple[LyricLine, ...]
    lang: str | None = None
    """ISO 639-2 (``eng``) or a BCP 47 tag, when the source says; ``und``/``xxx`` are dropped."""
    source: str = "upload"
    """``embedded``, ``sidecar`` or ``upload``."""

    def to_doc(self) -> dict[str, Any]:
        return {
            "synced": self.synced,
            "lang": self.lang,
            "source": self.source,
            "lines": [{"start_ms": line.start_ms, "text": line.text} for line in self.lines],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Lyrics:
        lines = tuple(LyricLine(ln.get("start_ms"), ln.get("text") or "") for ln in doc.get("lines") or ())
        return cls(bool(doc.get("synced")), lines, doc.get("lang"), doc.get("source") or "upload")


def clean_lang(value: Any) -> str | None:
    text = str(value or "").strip()
    if not _LANG_RE.match(text) or text.lower() in ("und", "xxx", "zxx"):
        return None
    return text.lower()


def _clean_line(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub("", text)).strip()[:MAX_LINE]


def parse_lyrics(text: str, *, lang: str | None = None, source: str = "upload") -> Lyrics | None:
    """LRC (when any line has a time tag) or plain text; None when nothing is left to show.

    LRC: a line may carry several time tags (a chorus sung twice); ``[offset:±ms]`` shifts every time
    (positive = earlier, as the format says); ``[la:]`` gives the language; other ``[xx:]`` tags are
    dropped. Lines come out sorted by time. Plain text keeps its line breaks, blank lines included
    (verses), without leading or trailing blank lines.
    """
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if any(_TIME_TAG_RE.match(line.strip()) for line in raw_lines):
        return _parse_lrc(raw_lines, lang, source)
    # LRC header tags without any timed line are no lyrics either; "[Chorus]" and the like stay.
    lines = [_clean_line(line) for line in raw_lines if not _lrc_header(line)]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        return None
    return Lyrics(False, tuple(LyricLine(None, line) for line in lines[:MAX_LINES]), clean_lang(lang), source)


def _lrc_header(line: str) -> bool:
    meta = _META_TAG_RE.match(line.strip())
    return meta is not None and meta.group(1).lower() in _LRC_HEADERS


def _parse_lrc(raw_lines: list[str], lang: str | None, source: str) -> Lyrics | None:
    offset = 0
    timed: list[LyricLine] = []
    for raw in raw_lines:
        line = raw.strip()
        meta = _META_TAG_RE.match(line)
        if meta and not _TIME_TAG_RE.match(line):
            key, value = meta.group(1).lower(), meta.group(2).strip()
            if key == "offset" and re.fullmatch(r"[+-]?\d{1,7}", value):
                offset = int(value)
            elif key == "la":
                lang = lang or value
            continue
        starts = []
        while match := _TIME_TAG_RE.match(line):
            minutes, seconds, fraction = match.groups()
            if int(seconds) < 60:
                ms = int(fraction.ljust(3, "0")) if fraction else 0
                starts.append((int(minutes) * 60 + int(seconds)) * 1000 + ms)
            line = line[match.end() :]
        # Enhanced LRC word timings (<mm:ss.xx>) are dropped: lines are what we show.
        text = _clean_line(re.sub(r"<\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?>", "", line))
        timed += [LyricLine(max(0, start - offset), text) for start in starts]
    if not any(line.text for line in timed):
        return None
    timed.sort(key=lambda line: line.start_ms or 0)
    return Lyrics(True, tuple(timed[:MAX_LINES]), clean_lang(lang), source)


# --- from files ----------------------------------------------------------------------------------


def lyrics_from_tags(tags: Any, audio: Any) -> Lyrics | None:
    """The lyrics in a file's own tag object (``audio`` gives the stream's sample rate, for SYLT)."""
    if isinstance(tags, ID3):
        return _from_id3(tags, audio)
    if isinstance(tags, VCommentDict):
        for key in ("lyrics", "unsyncedlyrics"):
            values = tags.get(key) or []
            if values and (found := parse_lyrics(str(values[0]), source="embedded")) is not None:
                return found
        return None
    if isinstance(tags, MP4Tags):
        values = tags.get("\xa9lyr") or []
        return parse_lyrics(str(values[0]), source="embedded") if values else None
    return None


def read_sidecar(path: Path) -> Lyrics | None:
    lrc = path.with_suffix(".lrc")
    try:
        if not lrc.is_file() or lrc.stat().st_size > MAX_LRC_BYTES:
            return None
        data = lrc.read_bytes()
    except OSError:
        return None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return parse_lyrics(data.decode(encoding), source="sidecar")
        except UnicodeDecodeError:
            continue
    return None


def _from_id3(tags: ID3, audio: Any) -> Lyrics | None:
    for frame in tags.getall("SYLT"):
        ms_per_unit = 1.0
        if frame.format == 1:  # MPEG frames
            info = getattr(audio, "info", None)
            rate = getattr(info, "sample_rate", 0) or 0
            if not rate:
                continue
            ms_per_unit = 1152 * 1000 / rate
        elif frame.format != 2:
            continue
        lines = [
            LyricLine(round(time * ms_per_unit), _clean_line(str(text)))
            for text, time in frame.text
            if _clean_line(str(text))
        ]
        if lines:
            lines.sort(key=lambda line: line.start_ms or 0)
            return Lyrics(True, tuple(lines[:MAX_LINES]), clean_lang(frame.lang), "embedded")
    for frame in tags.getall("USLT"):
        found = parse_lyrics(str(frame.text), lang=frame.lang, source="embedded")
        if found is not None:
            return found
    return None
