"""Cleaning the names people and files give us: titles, artist and album names, genres.

Tags and form fields are untrusted text. They are normalised (NFC), stripped of control and
bidirectional-override characters, whitespace-collapsed, trimmed and capped, so that what reaches the
catalog is safe to show and to sort. None means "nothing usable was given".
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

TITLE_MAX = 200
NAME_MAX = 200
GENRE_MAX = 64
BIO_MAX = 5000
UNKNOWN_ARTIST = "Unknown Artist"
UNTITLED = "Untitled"

_SPACES = re.compile(r"\s+")
# Bidi overrides and isolates can make a name display as something else ("gpj.exe"); drop them.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def clean_name(value: object, max_len: int = NAME_MAX) -> str | None:
    """``value`` as a one-line display name of at most ``max_len`` characters, or None if empty."""
    if value is None:
        return None
    text = str(value)
    if text.isascii() and text.isprintable():
        # Most names: nothing to normalise or remove, so skip the per-character pass below.
        text = _SPACES.sub(" ", text).strip()
        return text[:max_len].rstrip() or None
    text = unicodedata.normalize("NFC", text).translate(_BIDI)
    # Category C* (controls, format chars other than joiners, unassigned, surrogates) never belongs in a name.
    text = "".join(
        ch for ch in text if ch in "\u200c\u200d" or unicodedata.category(ch)[0] != "C" or ch.isspace()
    )
    text = _SPACES.sub(" ", text).strip()
    if not text:
        return None
    return text[:max_len].rstrip()


def clean_text(value: object, max_len: int = BIO_MAX) -> str | None:
    """Multi-line free text (a bio): controls removed except newlines, trimmed and capped."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).translate(_BIDI).replace("\r\n", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    return text[:max_len] if text else None


def sort_key(name: str | None) -> str:
    """The case- and accent-insensitive form names are sorted and matched by."""
    if not name:
        return ""
    if name.isascii():
        return name.lower()  # what the general form below gives for ASCII, without the per-character pass
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def title_from_filename(filename: str | None) -> str | None:
    """A display title from an uploaded file's name: its last component, without the extension.

    Only ever used as text, never as a path.
    """
    if not filename:
        return None
    # Some clients (aiohttp's among them) percent-encode the name in Content-Disposition.
    base = re.split(r"[\\/]", unquote(filename))[-1]
    stem, dot, ext = base.rpartition(".")
    if dot and stem and 1 <= len(ext) <= 5:
        base = stem
    return clean_name(base.replace("_", " "), TITLE_MAX)


def parse_year(value: object) -> int | None:
    """A release year from a tag such as ``"2019"``, ``"2019-05-01"`` or ``2019``; None if implausible."""
    match = re.match(r"\s*(\d{4})", str(value)) if value is not None else None
    if match is None:
        return None
    year = int(match.group(1))
    return year if 1000 <= year <= 9999 else None


def parse_track_no(value: object) -> int | None:
    """A track number from ``"3"``, ``"3/12"`` or ``3``; None if implausible."""
    match = re.match(r"\s*(\d{1,4})", str(value)) if value is not None else None
    if match is None:
        return None
    number = int(match.group(1))
    return number if 1 <= number <= 9999 else None
