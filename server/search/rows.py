"""What the library index keeps of each catalog document: one :class:`Row` per artist, album or track.

A row holds the words search matches (its own title or name, its artist's name, its album's title),
the keys listings sort and filter by, and the document as the result views show it (``view``,
BSON-encoded: dates survive the round trip). Rows are built here from catalog documents and nowhere
else, so the full-text index and the table always agree on what a row says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import bson

from server.search.text import fold

Kind = Literal["artist", "album", "track"]
KINDS: tuple[Kind, ...] = ("artist", "album", "track")
Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Row:
    kind: Kind
    id: str
    title: str
    """Own title (tracks, albums) or name (artists)."""
    artist_name: str | None
    album_title: str | None
    title_key: str
    year: int | None
    artist_id: str | None
    album_id: str | None
    genre_key: str | None
    genre: str | None
    status: str
    """Tracks: processing | ready | failed | missing (ready, its scanned file gone). Albums and
    artists are always "ready"."""
    owner_id: str | None
    play_count: int
    track_no: int | None
    has_cover: bool
    view: bytes
    cover_id: str | None = None
    """Albums: the track whose cover stands for the album, kept by the library index's writer."""

    @property
    def texts(self) -> tuple[str | None, str | None, str | None]:
        """The weighted text fields, in :data:`server.search.fulltext.FIELD_WEIGHTS` order."""
        if self.kind == "artist":
            return (self.title, None, None)
        if self.kind == "album":
            return (self.title, self.artist_name, None)
        return (self.title, self.artist_name, self.album_title)

    def doc(self) -> Doc:
        """The document as the result views read it."""
        return decode_view(self.view)


def artist_row(doc: Doc) -> Row:
    name = doc.get("name") or ""
    return Row(
        kind="artist", id=doc["_id"], title=name, artist_name=None, album_title=None,
        title_key=fold(name), year=None, artist_id=doc["_id"], album_id=None, genre_key=None, genre=None,
        status="ready", owner_id=None, play_count=0, track_no=None, has_cover=False, view=encode_view(doc),
    )  # fmt: skip


def album_row(doc: Doc, artist_name: str | None) -> Row:
    title = doc.get("title") or ""
    return Row(
        kind="album", id=doc["_id"], title=title, artist_name=artist_name, album_title=None,
        title_key=fold(title), year=doc.get("release_year"), artist_id=doc.get("artist_id"),
        album_id=doc["_id"], genre_key=None, genre=None, status="ready", owner_id=None, play_count=0,
        track_no=None, has_cover=False, view=encode_view(doc),
    )  # fmt: skip


def _row_status(doc: Doc) -> str:
    """A track's status as the index filters it: a scanned file that vanished is "missing", so that
    every listing, count and search for listeners (``status = 'ready'``) leaves it out."""
    status = doc.get("status") or "processing"
    return "missing" if status == "ready" and doc.get("missing") else status


def track_row(doc: Doc, artist_name: str | None, album: tuple[str, int | None] | None) -> Row:
    """``album`` is the track's album's (title, release year), if it has one that exists."""
    title = doc.get("title") or ""
    year = doc.get("release_year")
    if year is None and album is not None:
        year = album[1]
    genre = doc.get("genre") or None
    return Row(
        kind="track", id=doc["_id"], title=title, artist_name=artist_name,
        album_title=album[0] if album else None, title_key=fold(title), year=year,
        artist_id=doc.get("artist_id"), album_id=doc.get("album_id"),
        genre_key=fold(genre) if genre else None, genre=genre, status=_row_status(doc),
        owner_id=doc.get("owner_id"), play_count=int(doc.get("play_count") or 0),
        track_no=doc.get("track_no"), has_cover=bool(doc.get("cover")), view=encode_view(doc),
    )  # fmt: skip


_ALWAYS_KEPT = frozenset({"_id", "title", "name", "artist_id", "status", "created_at", "updated_at"})
_DEFAULTS: dict[str, Any] = {
    "progress": 0,
    "play_count": 0,
    "missing": False,
    "renditions": [],
    "owner_ids": [],
}
"""Values the views read back the same when the field is absent (``CatalogService.track_out``)."""


def compact(doc: Doc) -> Doc:
    """``doc`` without fields the views would read back the same when absent, and a cover as a flag.

    At a million tracks every field left out of each stored view saves tens of megabytes on disk.
    """
    out = {
        k: v
        for k, v in doc.items()
        if k in _ALWAYS_KEPT or not (v is None or (k in _DEFAULTS and v == _DEFAULTS[k]))
    }
    if "cover" in out:
        out["cover"] = True
    original = out.get("original")
    if isinstance(original, dict):
        # Only its source, type and size are shown; without them, an absent original reads the same.
        del out["original"]
        kept = {k: original[k] for k in ("source", "mime", "size") if original.get(k)}
        if kept:
            out["original"] = kept
    return out


def encode_view(doc: Doc) -> bytes:
    return bson.encode(compact(doc))


def decode_view(view: bytes) -> Doc:
    return bson.decode(view)


def with_play_count(doc: Doc, play_count: int) -> Doc:
    """``doc`` (a track view) with ``play_count``: playback bumps counts without touching the rest."""
    out = dict(doc)
    if play_count:
        out["play_count"] = play_count
    else:
        out.pop("play_count", None)
    return out
