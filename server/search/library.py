"""The library index of one machine: full text in tantivy, rows in SQLite, both in ``data_dir/search``.

Every process of the machine reads it; one at a time writes it, the holder of ``writer.lock`` (an
``flock``, released by the kernel when its process dies, so another process takes over at its next
catch-up). The writer turns catalog documents into rows (:mod:`server.search.rows`), and keeps what
one document says about others consistent: an artist's new name is re-indexed into its albums and
tracks, an album's new title or year into its tracks, and the genres of an album's or artist's ready
tracks into the album or artist (search filters them by those genres).

A batch of changes becomes visible with :meth:`commit`: tantivy first, then SQLite with the new
watermarks. A crash between the two leaves SQLite behind, so the next catch-up reads those documents
again: putting a row twice is harmless.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from server.search.fulltext import SCHEMA_VERSION, Filters, FullText, Hit, level
from server.search.rows import Kind, Row, album_row, artist_row, encode_view, track_row, with_play_count
from server.search.table import LibraryTable

log = structlog.get_logger("harmonystream.search")
Doc = dict[str, Any]


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
    rows: dict[Kind, list[Row]] = field(default_factory=dict)
    totals: dict[Kind, int] = field(default_factory=dict)


class LibraryIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(folder / "writer.lock", "a+b")  # noqa: SIM115 - held for the process's life
        self.writer = False
        self._try_lock()
        if self.writer:
            self._check_version()
        self.table = LibraryTable(folder / "library.sqlite3")
        self._text: FullText | None = None
        if self.writer:
            self.text.open_writer()
        self._dirty: set[tuple[Kind, str]] = set()
        """Albums and artists whose genres may have changed with their tracks (see :meth:`commit`)."""

    def _try_lock(self) -> None:
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        self.writer = True

    def _check_version(self) -> None:
        """A library written by another schema version is started again from nothing."""
        marker = self.folder / "version"
        if marker.exists() and marker.read_text().strip() == str(SCHEMA_VERSION):
            return
        for name in ("text", "library.sqlite3", "library.sqlite3-wal", "library.sqlite3-shm"):
            target = self.folder / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(f"{SCHEMA_VERSION}\n")
        os.replace(tmp, marker)

    @property
    def text(self) -> FullText:
        """The full-text indexes, opened on first use: a reader opens them once the writer has
        created them (it waits for the library to be built), never both at once."""
        if self._text is None:
            self._text = FullText(self.folder / "text")
        return self._text

    def try_become_writer(self) -> bool:
        """Take over writing if the writer process is gone; True if this process writes now."""
        if not self.writer:
            self._try_lock()
            if self.writer:
                log.info("search_index_writer_taken_over", folder=str(self.folder))
                self.text.open_writer()
        return self.writer

    def announce_reader(self) -> None:
        """Tell the writer that this process reads the index, so it catches up in the background."""
        folder = self.folder / "readers"
        folder.mkdir(exist_ok=True)
        (folder / f"{os.getpid()}-{id(self)}").touch()

    def readers_active(self, within: float) -> bool:
        """Whether another process read the index in the last ``within`` seconds (stale marks are swept)."""
        now = time.time()
        active = False
        try:
            marks = list(os.scandir(self.folder / "readers"))
        except FileNotFoundError:
            return False
        for mark in marks:
            age = now - mark.stat().st_mtime
            if age < within:
                active = True
            elif age > 3600:
                Path(mark.path).unlink(missing_ok=True)
        return active

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
        self.table.close()
        self._lock_file.close()

    # -- writing ---------------------------------------------------------------------------------

    def put(self, kind: Kind, doc: Doc) -> None:
        """Index (or re-index) one catalog document."""
        if kind == "artist":
            self._put_artist(doc)
        elif kind == "album":
            self._put_album(doc)
        else:
            self._put_track(doc)

    def build_step(self, kind: Kind, docs: list[Doc]) -> None:
        """Index a batch of one kind while the library is built from nothing (artists, then albums,
        then tracks): nothing indexed before can depend on them, so no propagation is needed."""
        if kind == "artist":
            rows = [artist_row(d) for d in docs]
        elif kind == "album":
            names = self._artist_names([d.get("artist_id") for d in docs])
            rows = [album_row(d, names.get(d.get("artist_id") or "")) for d in docs]
        else:
            names = self._artist_names([d.get("artist_id") for d in docs])
            albums = self.table.get_many("album", [d["album_id"] for d in docs if d.get("album_id")])
            rows = [
                track_row(
                    d, names.get(d.get("artist_id") or ""), _album_of(albums.get(d.get("album_id") or ""))
                )
                for d in docs
            ]
        self.table.put_many(rows)
        for row in rows:
            self.text.put(row, [])

    def finish_build(self) -> None:
        """After a build from nothing: every album and artist gets the genres of its ready tracks, and
        every album its cover."""
        self.table.refresh_all_covers()
        for kind, column in (("album", "album_id"), ("artist", "artist_id")):
            genres = self.table.all_ready_genres(column)
            rows = self.table.get_many(kind, list(genres))  # type: ignore[arg-type]
            for doc_id, found in genres.items():
                row = rows.get(doc_id)
                if row is not None:
                    self.table.set_genres(row.kind, doc_id, found)
                    self.text.put(row, found)

    def remove(self, kind: Kind, doc_id: str) -> bool:
        """Forget one document; False if it was not indexed."""
        row = self.table.get(kind, doc_id)
        if row is None:
            return False
        self.table.remove(kind, doc_id)
        self.text.remove(kind, doc_id)
        if kind == "track":
            self._touch(row)
        return True

    def set_play_count(self, track_id: str, play_count: int) -> None:
        row = self.table.get("track", track_id)
        if row is not None and row.play_count != play_count:
            changed = replace(
                row, play_count=play_count, view=encode_view(with_play_count(row.doc(), play_count))
            )
            self.table.put_many([changed])
            self.text.put(changed, [])

    def commit(self, state: dict[str, Any] | None = None) -> None:
        """Settle genres, then make everything since the last commit visible, with ``state`` saved."""
        for kind, doc_id in sorted(self._dirty):
            row = self.table.get(kind, doc_id)
            if row is None:
                continue
            if kind == "album":
                self.table.refresh_cover(doc_id)
            genres = self.table.ready_genres("album_id" if kind == "album" else "artist_id", doc_id)
            if genres != self.table.genres(kind, doc_id):
                self.table.set_genres(kind, doc_id, genres)
                self.text.put(row, genres)
        self._dirty.clear()
        self.text.commit()
        for name, value in (state or {}).items():
            self.table.set_state(name, value)
        self.table.commit()

    def clear(self) -> None:
        self.table.clear()
        self.text.clear()

    def _put_artist(self, doc: Doc) -> None:
        row = artist_row(doc)
        old = self.table.get("artist", row.id)
        self._store(row)
        if old is not None and old.title != row.title:
            # Albums and tracks carry the artist's name in their text: re-index them.
            for kind in ("album", "track"):
                for other in self.table.get_many(kind, self.table.ids_of(kind, "artist_id", row.id)).values():  # type: ignore[arg-type]
                    self._store(replace(other, artist_name=row.title))

    def _put_album(self, doc: Doc) -> None:
        name = self._artist_names([doc.get("artist_id")]).get(doc.get("artist_id") or "")
        row = album_row(doc, name)
        old = self.table.get("album", row.id)
        self._store(row)
        if old is not None and (old.title, old.year) != (row.title, row.year):
            for track in self.table.get_many(
                "track", self.table.ids_of("track", "album_id", row.id)
            ).values():
                self._store(track_row(track.doc(), track.artist_name, (row.title, row.year)))

    def _put_track(self, doc: Doc) -> None:
        name = self._artist_names([doc.get("artist_id")]).get(doc.get("artist_id") or "")
        album = self.table.get("album", doc["album_id"]) if doc.get("album_id") else None
        row = track_row(doc, name, _album_of(album))
        old = self.table.get("track", row.id)
        self._store(row)
        if old is not None:
            self._touch(old)
        self._touch(row)

    def _store(self, row: Row) -> None:
        self.table.put_many([row])
        self.text.put(row, self.table.genres(row.kind, row.id) if row.kind != "track" else [])

    def _touch(self, track: Row) -> None:
        if track.album_id:
            self._dirty.add(("album", track.album_id))
        if track.artist_id:
            self._dirty.add(("artist", track.artist_id))

    def _artist_names(self, ids: list[str | None]) -> dict[str, str]:
        return {i: r.title for i, r in self.table.get_many("artist", [i for i in ids if i]).items()}

    # -- reading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        self.text.reload()

    def search(self, query: Query) -> Hits:
        """Rows of the page asked for, per kind, and how many match in all."""
        hits = Hits()
        want = query.offset + query.limit
        for kind in query.kinds:
            filters = Filters(
                kind=kind,
                viewer_id=query.viewer_id,
                everything=query.everything,
                genre_key=query.genre_key,
                year_from=query.year_from,
                year_to=query.year_to,
                artist_id=query.artist_id,
            )
            found, total = self.text.search(query.terms, filters, sort=query.sort, limit=want, offset=0)
            rows = self.table.get_many(kind, [h.id for h in found])
            ordered = [(h, rows[h.id]) for h in found if h.id in rows]
            if query.sort == "relevance":
                ordered.sort(key=lambda hr: _relevance_key(hr[0], hr[1]))
            hits.rows[kind] = [r for _, r in ordered[query.offset : want]]
            hits.totals[kind] = total
        return hits

    def listing(
        self, kind: Kind, offset: int, limit: int, *, viewer_id: str | None, everything: bool
    ) -> tuple[list[Row], int]:
        return self.table.listing(kind, offset, limit, viewer_id=viewer_id, everything=everything)

    def state(self) -> dict[str, Any]:
        return {name: self.table.state(name) for name in ("built", "watermarks", "settled", "deleted_mark")}


def _relevance_key(hit: Hit, row: Row) -> tuple:
    return (-level(hit.score, row.play_count), -row.play_count, row.title_key, row.id)


def _album_of(album: Row | None) -> tuple[str, int | None] | None:
    return (album.title, album.year) if album is not None else None
