"""The search index of one process: tracks, albums and artists, each a :class:`TextIndex`.

It turns catalog documents into index entries (a track is found by its title, its artist's name and
its album's title, an album by its title and artist) and answers a parsed query with slot ids per
kind and totals. It also keeps each document as far as the result views show it (:attr:`docs`), so a
page is answered without reading the database. It knows nothing of the database or of HTTP;
:class:`SearchService` feeds it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import structlog

from media.records import InvalidRecord, Track
from server.search.index import Entry, TextIndex
from server.search.store import Kind
from server.search.text import fold

Doc = dict[str, Any]
log = structlog.get_logger("harmonystream.search")


@dataclass(frozen=True, slots=True)
class Query:
    terms: list[str]
    kinds: tuple[Kind, ...] = ("track", "album", "artist")
    genre_key: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    artist_id: str | None = None
    sort: str = "relevance"
    limit: int = 20
    offset: int = 0
    viewer_id: str | None = None
    everything: bool = False
    """Admins: tracks in every status."""


@dataclass(slots=True)
class Hits:
    ids: dict[Kind, list[str]] = field(default_factory=dict)
    totals: dict[Kind, int] = field(default_factory=dict)


class CatalogIndex:
    def __init__(self) -> None:
        self.indexes: dict[Kind, TextIndex] = {
            "track": TextIndex(),
            "album": TextIndex(),
            "artist": TextIndex(),
        }
        self.artist_names: dict[str, str] = {}
        self.docs: dict[Kind, dict[str, Doc]] = {"album": {}, "artist": {}}
        """{kind: {id: document as the result views need it}} of albums and artists (see :func:`_compact`)."""
        self.albums = self.docs["album"]
        self.track_records: dict[str, Track] = {}
        """{id: the track as the result views need it}: checked once here, not on every page shown."""

    @property
    def tracks(self) -> TextIndex:
        return self.indexes["track"]

    # -- writing ---------------------------------------------------------------------------------

    def put(self, kind: Kind, doc: Doc) -> None:
        """Index (or re-index) one projected document; names of artists/albums flow into their tracks."""
        if kind == "track":
            try:
                record = Track.from_doc(_compact(doc))
            except InvalidRecord as exc:
                # One broken document must not break every search and listing it would appear in.
                log.warning("search_index_skipped_track", track_id=doc.get("_id"), problems=exc.fields)
                self.remove(kind, doc["_id"])
                return
            self._put_track(doc)
            self.track_records[record.id] = record
            return
        if kind == "artist":
            self._put_artist(doc)
        else:
            self._put_album(doc)
        self.docs[kind][doc["_id"]] = _compact(doc)

    def remove(self, kind: Kind, doc_id: str) -> None:
        self.indexes[kind].remove(doc_id)
        if kind == "track":
            self.track_records.pop(doc_id, None)
        else:
            self.docs[kind].pop(doc_id, None)
        if kind == "artist":
            self.artist_names.pop(doc_id, None)

    def album_title(self, album_id: str | None) -> str | None:
        album = self.albums.get(album_id or "")
        return album.get("title") if album else None

    def album_cover(self, album_id: str) -> str | None:
        """The id of the album's track whose cover stands for the album: the first by number that has one."""
        tracks = self.indexes["track"]
        best: tuple | None = None
        for slot in tracks.by_album.get(album_id, ()):
            entry = tracks.entries[slot]
            track = self.track_records.get(entry.id) if entry is not None else None
            if track is not None and track.cover:
                number = track.track_no
                key = (number is not None, number or 0, track.id)  # unnumbered first, as the stores sort
                if best is None or key < best:
                    best = key
        return best[2] if best else None

    def _put_artist(self, doc: Doc) -> None:
        name = doc.get("name") or ""
        renamed = self.artist_names.get(doc["_id"]) not in (None, name)
        self.artist_names[doc["_id"]] = name
        self.indexes["artist"].put(
            Entry(id=doc["_id"], texts=(name,), title_key=fold(name), artist_id=doc["_id"])
        )
        if renamed:
            # Albums and tracks carry the artist's name in their text: re-index them.
            for kind in ("album", "track"):
                index = self.indexes[kind]
                for slot in list(index.by_artist.get(doc["_id"], ())):
                    entry = index.entries[slot]
                    if entry is not None:
                        index.put(_with_text(entry, 1, name))

    def _put_album(self, doc: Doc) -> None:
        old = self.albums.get(doc["_id"])
        title = doc.get("title") or ""
        self.indexes["album"].put(
            Entry(
                id=doc["_id"],
                texts=(title, self.artist_names.get(doc.get("artist_id") or "")),
                title_key=fold(title),
                year=doc.get("release_year"),
                artist_id=doc.get("artist_id"),
                album_id=doc["_id"],
            )
        )
        if old is not None and (old.get("title"), old.get("release_year")) != (
            title,
            doc.get("release_year"),
        ):
            tracks = self.indexes["track"]
            for slot in list(tracks.by_album.get(doc["_id"], ())):
                entry = tracks.entries[slot]
                if entry is not None:
                    changed = _with_text(entry, 2, title)
                    changed.year = entry.year if entry.year is not None else doc.get("release_year")
                    tracks.put(changed)

    def _put_track(self, doc: Doc) -> None:
        title = doc.get("title") or ""
        album = self.albums.get(doc.get("album_id") or "")
        year = doc.get("release_year")
        if year is None and album is not None:
            year = album.get("release_year")
        self.indexes["track"].put(
            Entry(
                id=doc["_id"],
                texts=(
                    title,
                    self.artist_names.get(doc.get("artist_id") or ""),
                    album.get("title") if album else None,
                ),
                title_key=fold(title),
                year=year,
                artist_id=doc.get("artist_id"),
                album_id=doc.get("album_id"),
                genre_key=fold(doc["genre"]) if doc.get("genre") else None,
                genre=doc.get("genre") or None,
                status=doc.get("status") or "processing",
                owner_id=doc.get("owner_id"),
                play_count=int(doc.get("play_count") or 0),
            )
        )

    # -- reading ---------------------------------------------------------------------------------

    def search(self, query: Query) -> Hits:
        hits = Hits()
        for kind in query.kinds:
            index = self.indexes[kind]
            matches = index.query(query.terms)
            cands = index.candidates(matches)
            if cands:
                cands = self._filter(kind, index, cands, query)
            hits.totals[kind] = len(cands)
            slots = index.top(cands, query.offset + query.limit, query.sort, matches)[query.offset :]
            hits.ids[kind] = [index.entries[s].id for s in slots]  # type: ignore[union-attr]
        return hits

    def listing(
        self, kind: Kind, offset: int, limit: int, *, viewer_id: str | None, everything: bool
    ) -> tuple[list[str], int]:
        """One page of every ``kind`` the viewer may see, by title (id breaking ties), and how many there are.

        The order is the same on every call while the catalog does not change, which is what apps
        paging through the whole library rely on.
        """
        index = self.indexes[kind]
        if kind == "track" and not everything:
            slots = index.listing("title", hidden=index.not_ready, owner_id=viewer_id)
        else:
            slots = index.listing("title")
        entries = index.entries
        return [entries[s].id for s in slots[offset : offset + limit]], len(slots)  # type: ignore[union-attr]

    def _filter(self, kind: Kind, index: TextIndex, cands: set[int], query: Query) -> set[int]:
        if query.artist_id is not None:
            cands &= index.by_artist.get(query.artist_id, set())
        if kind == "track":
            if not query.everything and index.not_ready:
                hidden = cands & index.not_ready
                if hidden:
                    cands -= {s for s in hidden if index.entries[s].owner_id != query.viewer_id}  # type: ignore[union-attr]
            if query.genre_key is not None:
                cands &= index.by_genre.get(query.genre_key, set())
        elif query.genre_key is not None:
            # Albums and artists have no genre of their own: those with a ready track of that genre.
            tracks = self.indexes["track"]
            owners = {
                getattr(tracks.entries[s], "album_id" if kind == "album" else "artist_id")
                for s in tracks.by_genre.get(query.genre_key, set()) - tracks.not_ready
            }
            cands = {s for s in cands if index.entries[s].id in owners}  # type: ignore[union-attr]
        if kind != "artist" and (query.year_from is not None or query.year_to is not None):
            low = query.year_from if query.year_from is not None else -1
            high = query.year_to if query.year_to is not None else 100_000
            entries = index.entries
            cands = {s for s in cands if entries[s].year is not None and low <= entries[s].year <= high}  # type: ignore[union-attr,operator]
        return cands


_ALWAYS_KEPT = frozenset({"_id", "title", "name", "artist_id", "status", "created_at", "updated_at"})
_DEFAULTS: dict[str, Any] = {
    "progress": 0,
    "play_count": 0,
    "missing": False,
    "renditions": [],
    "owner_ids": [],
}
"""Values the views read back the same when the field is absent (``CatalogService.track_out``)."""


def _compact(doc: Doc) -> Doc:
    """``doc`` without fields the views would read back the same when absent, and a cover as a flag.

    At 100,000 tracks every field left out of each document saves megabytes.
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


def _with_text(entry: Entry, position: int, text: str | None) -> Entry:
    texts = list(entry.texts)
    texts[position] = text
    return dataclasses.replace(entry, texts=tuple(texts))
