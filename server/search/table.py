"""The rows of the library in SQLite: ordered listings, catalog facts and result views, from disk.

One file beside the full-text index (``library.sqlite3``), written by the writer process only and
read by every process of the machine (WAL mode: readers never wait for the writer). B-tree indexes
answer what the in-memory index used to: a page of every title in order, a track's artist and genre,
the most played tracks of an artist or a genre, an album's cover, a result's view by id. SQLite is
part of Python and its page cache is the operating system's, so processes share it.

The ``state`` table keeps how far the library has caught up with the catalog (watermarks), so a
restart continues from there instead of reading a million documents again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from server.search.rows import Kind, Row

_COLUMNS = (
    "kind", "id", "title", "artist_name", "album_title", "title_key", "year", "artist_id", "album_id",
    "genre_key", "genre", "status", "owner_id", "play_count", "track_no", "has_cover", "view",
)  # fmt: skip
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    kind TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, artist_name TEXT, album_title TEXT,
    title_key TEXT NOT NULL, year INTEGER, artist_id TEXT, album_id TEXT, genre_key TEXT, genre TEXT,
    status TEXT NOT NULL, owner_id TEXT, play_count INTEGER NOT NULL, track_no INTEGER,
    has_cover INTEGER NOT NULL, view BLOB NOT NULL, genres TEXT NOT NULL DEFAULT '', cover_id TEXT,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rows_title ON rows (kind, title_key, id, status, owner_id);
CREATE INDEX IF NOT EXISTS rows_artist ON rows (kind, artist_id, status, play_count);
CREATE INDEX IF NOT EXISTS rows_album ON rows (kind, album_id);
CREATE INDEX IF NOT EXISTS rows_genre ON rows (kind, genre_key, status, play_count);
CREATE INDEX IF NOT EXISTS rows_plays ON rows (kind, status, play_count);
CREATE INDEX IF NOT EXISTS rows_owner ON rows (owner_id) WHERE owner_id IS NOT NULL AND status != 'ready';
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INDEX_OF = {"album_id": "rows_album", "artist_id": "rows_artist"}
"""Without statistics SQLite planned these lookups badly (0.5 s for one album's genres): named here."""
_SELECT = ", ".join((*_COLUMNS, "cover_id"))
"""Rows are read with the album cover the writer keeps (:meth:`LibraryTable.refresh_cover`)."""
_BY_PLAYS = "ORDER BY play_count DESC, title_key, id"


class LibraryTable:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit off by hand: the writer groups a batch into one transaction (``commit``).
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._in_txn = False
        self._commits = 0
        self._counts: dict[tuple, tuple[tuple[int, int], int]] = {}
        # Where listing pages ended: (listing, offset after the page) → (version, (title_key, id)).
        self._ends: dict[tuple, tuple[tuple[int, int], tuple[str, str]]] = {}

    def close(self) -> None:
        if self._in_txn:
            self._db.execute("ROLLBACK")
        self._db.close()

    # -- writing (the writer process only) -------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_txn:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_txn = True

    def commit(self) -> None:
        if self._in_txn:
            self._db.execute("COMMIT")
            self._in_txn = False
            self._commits += 1  # data_version counts other connections' commits only

    def put_many(self, rows: Iterable[Row]) -> None:
        """Insert or replace rows, keeping the genres an album or artist already has."""
        self._begin()
        self._db.executemany(
            f"INSERT INTO rows ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
            f" ON CONFLICT (kind, id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:]),
            [tuple(getattr(r, c) for c in _COLUMNS) for r in rows],
        )

    def remove(self, kind: Kind, doc_id: str) -> None:
        self._begin()
        self._db.execute("DELETE FROM rows WHERE kind = ? AND id = ?", (kind, doc_id))

    def clear(self) -> None:
        self._begin()
        self._db.execute("DELETE FROM rows")
        self._db.execute("DELETE FROM state")

    def set_genres(self, kind: Kind, doc_id: str, genres: Sequence[str]) -> None:
        self._begin()
        self._db.execute(
            "UPDATE rows SET genres = ? WHERE kind = ? AND id = ?", (" ".join(genres), kind, doc_id)
        )

    def refresh_cover(self, album_id: str) -> None:
        """Keep the album's cover: its track whose cover stands for it (see :meth:`album_cover`)."""
        self._begin()
        self._db.execute(
            "UPDATE rows SET cover_id = ? WHERE kind = 'album' AND id = ?",
            (self.album_cover(album_id), album_id),
        )

    def refresh_all_covers(self) -> None:
        self._begin()
        self._db.execute(
            "UPDATE rows SET cover_id = (SELECT t.id FROM rows AS t INDEXED BY rows_album"
            " WHERE t.kind = 'track' AND t.album_id = rows.id AND t.has_cover"
            " ORDER BY t.track_no IS NOT NULL, t.track_no, t.id LIMIT 1) WHERE kind = 'album'"
        )

    def set_state(self, name: str, value: Any) -> None:
        self._begin()
        self._db.execute(
            "INSERT INTO state VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value)),
        )

    # -- reading ---------------------------------------------------------------------------------

    def state(self, name: str) -> Any:
        found = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return json.loads(found[0]) if found else None

    def get(self, kind: Kind, doc_id: str) -> Row | None:
        found = self._db.execute(
            f"SELECT {_SELECT} FROM rows WHERE kind = ? AND id = ?", (kind, doc_id)
        ).fetchone()
        return Row(*found) if found else None

    def get_many(self, kind: Kind, ids: Sequence[str]) -> dict[str, Row]:
        out: dict[str, Row] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for found in self._db.execute(
                f"SELECT {_SELECT} FROM rows WHERE kind = ? AND id IN ({', '.join('?' * len(chunk))})",
                (kind, *chunk),
            ):
                out[found[1]] = Row(*found)
        return out

    def genres(self, kind: Kind, doc_id: str) -> list[str]:
        found = self._db.execute(
            "SELECT genres FROM rows WHERE kind = ? AND id = ?", (kind, doc_id)
        ).fetchone()
        return found[0].split() if found and found[0] else []

    def ready_genres(self, field: str, owner_id: str) -> list[str]:
        """The genres of the ready tracks of an album (``field`` = album_id) or artist (artist_id)."""
        sql = (
            f"SELECT DISTINCT genre_key FROM rows INDEXED BY {_INDEX_OF[field]}"
            f" WHERE kind = 'track' AND {field} = ? AND status = 'ready' AND genre_key IS NOT NULL"
        )
        return sorted(g for (g,) in self._db.execute(sql, (owner_id,)))

    def all_ready_genres(self, field: str) -> dict[str, list[str]]:
        """{album or artist id: genres of its ready tracks}, for every album or artist at once."""
        assert field in ("album_id", "artist_id")
        out: dict[str, list[str]] = {}
        for owner, genre in self._db.execute(
            f"SELECT DISTINCT {field}, genre_key FROM rows WHERE kind = 'track' AND status = 'ready'"
            f" AND genre_key IS NOT NULL AND {field} IS NOT NULL ORDER BY {field}, genre_key"
        ):
            out.setdefault(owner, []).append(genre)
        return out

    def ids_of(self, kind: Kind, field: str, value: str) -> list[str]:
        """Ids of ``kind`` whose ``field`` (artist_id or album_id) is ``value``."""
        sql = f"SELECT id FROM rows INDEXED BY {_INDEX_OF[field]} WHERE kind = ? AND {field} = ?"
        return [i for (i,) in self._db.execute(sql, (kind, value))]

    def ids(self, kind: Kind) -> set[str]:
        return {i for (i,) in self._db.execute("SELECT id FROM rows WHERE kind = ?", (kind,))}

    def play_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT id, play_count FROM rows WHERE kind = 'track'").fetchall())

    def listing(
        self, kind: Kind, offset: int, limit: int, *, viewer_id: str | None, everything: bool
    ) -> tuple[list[Row], int]:
        """A page of every ``kind`` the viewer may see, by title (then id), and how many there are.

        Apps page through a whole library asking for the page after the one they just got: when
        ``offset`` is where an earlier page ended and nothing changed since, the page starts from that
        page's last (title, id), one seek in the index, instead of walking ``offset`` entries again.
        """
        where, params = "kind = ?", [kind]
        if kind == "track" and not everything:
            where += " AND (status = 'ready' OR owner_id = ?)"
            params.append(viewer_id or "")
        version = self._version()
        end = self._ends.get((where, *params, offset))
        if end is not None and end[0] == version and not self._in_txn:
            page = f"{where} AND (title_key, id) > (?, ?) ORDER BY title_key, id LIMIT ?"
            args: tuple[Any, ...] = (*params, *end[1], limit)
        else:
            # Otherwise the page's ids from the index alone (it holds status and owner), then their
            # rows: an offset walks index entries only (50,000 of them: 360 → 15 ms at 100,000 tracks).
            page = f"{where} ORDER BY title_key, id LIMIT ? OFFSET ?"
            args = (*params, limit, offset)
        rows = [
            Row(*r)
            for r in self._db.execute(
                f"SELECT {_SELECT} FROM rows WHERE (kind, id) IN (SELECT kind, id FROM rows"
                f" INDEXED BY rows_title WHERE {page}) ORDER BY title_key, id",
                args,
            ).fetchall()
        ]
        if rows:
            if len(self._ends) > 1000:
                self._ends.clear()
            self._ends[(where, *params, offset + len(rows))] = (version, (rows[-1].title_key, rows[-1].id))
        return rows, self._count(where, params, version)

    def _version(self) -> tuple[int, int]:
        """Changes whenever the table may have: a commit by another connection or by this one."""
        return self._db.execute("PRAGMA data_version").fetchone()[0], self._commits

    def _count(self, where: str, params: list[Any], version: tuple[int, int]) -> int:
        """``count(*)`` of a listing, remembered until the table changes (tens of ms at 100,000 rows)."""
        key = (where, *params)
        cached = self._counts.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        total = self._db.execute(
            f"SELECT count(*) FROM rows INDEXED BY rows_title WHERE {where}", params
        ).fetchone()[0]
        if len(self._counts) > 1000:
            self._counts.clear()
        self._counts[key] = (version, total)
        return total

    def most_played(self, k: int, *, artist_id: str | None = None, genre_key: str | None = None) -> list[Row]:
        """The ``k`` most played ready tracks, of one artist or one genre or of the whole library."""
        where, params, index = "kind = 'track' AND status = 'ready'", [], "rows_plays"
        if artist_id is not None:
            index = "rows_artist"
            where += " AND artist_id = ?"
            params.append(artist_id)
        elif genre_key is not None:
            index = "rows_genre"
            where += " AND genre_key = ?"
            params.append(genre_key)
        return [
            Row(*r)
            for r in self._db.execute(
                f"SELECT {_SELECT} FROM rows INDEXED BY {index} WHERE {where} {_BY_PLAYS} LIMIT ?",
                (*params, k),
            )
        ]

    def album_cover(self, album_id: str) -> str | None:
        """The id of the album's track whose cover stands for the album: unnumbered first, then by number."""
        found = self._db.execute(
            "SELECT id FROM rows INDEXED BY rows_album WHERE kind = 'track' AND album_id = ? AND has_cover"
            " ORDER BY track_no IS NOT NULL, track_no, id LIMIT 1",
            (album_id,),
        ).fetchone()
        return found[0] if found else None
