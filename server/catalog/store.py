"""The ``tracks`` collection. The only code that reads or writes track documents.

A track document::

    {_id, title, artist_id, album_id | None, duration_ms | None, genre | None, track_no | None,
     release_year | None, play_count, owner_id (who uploaded it), status: processing|ready|failed,
     error | None, progress 0-100,
     original: {path (relative to the media root, or absolute for a scanned file referenced in place),
                format, mime, size, sha256, source: upload|scan},
     renditions: [{name, codec, bitrate, average_bandwidth, peak_bandwidth}],
     loudness: {integrated_lufs, true_peak_dbtp} | None, cover: relative path | None,
     created_at, updated_at}

Derived and catalog-only fields kept beside them: ``title_sort`` and ``genre_key`` (case- and
accent-insensitive forms for sorting and filtering, maintained here from ``title`` and ``genre``),
``scan_path`` and ``original.mtime_ns`` (scanned files only: the absolute path, unique, and the
modification time seen by the last scan) and ``missing`` (a scanned file that vanished from disk).

Reads answer :class:`media.records.Track` records (whose ``extra`` carries the catalog-only fields);
writes take the changed fields, checked against the record's rules before they reach the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pymongo.errors import BulkWriteError, DuplicateKeyError

from media.records import Track, check_track_changes
from server.catalog.deletions import Deletions
from server.catalog.names import sort_key
from server.catalog.paging import Page, PageCursor, keyset_page, sort_field
from server.catalog.scan_folders import ScanFolders, folder_of
from server.documents import any_of, new_id, utcnow
from server.errors import NotFound
from server.handles import Database

_SCANNED = {"_id": 1, "scan_path": 1, "original": 1, "missing": 1, "created_at": 1}
"""What a rescan compares. The whole "original": nx-27017 flattens projected embedded fields."""

SORTS = {
    "title": "title_sort",
    "created_at": "created_at",
    "play_count": "play_count",
    "duration_ms": "duration_ms",
    "release_year": "release_year",
    "track_no": "track_no",
}
"""Public sort names (``-`` prefix for descending) → document fields."""


@dataclass(frozen=True, slots=True)
class TrackQuery:
    """Filters of a track listing.

    ``visible_to`` (a user id) restricts to ready tracks and that user's own.
    """

    artist_id: str | None = None
    album_id: str | None = None
    genre: str | None = None
    status: str | None = None
    visible_to: str | None = None
    everything: bool = False
    """True for admins: no visibility restriction."""
    without_gapless: bool = False
    """Only tracks whose ladder records no gapless figures (made before they were measured)."""

    def to_filter(self) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = []
        if self.artist_id:
            clauses.append({"artist_id": self.artist_id})
        if self.album_id:
            clauses.append({"album_id": self.album_id})
        if self.genre:
            clauses.append({"genre_key": sort_key(self.genre)})
        if self.status:
            clauses.append({"status": self.status})
        if self.without_gapless:
            # "$in": [None] is {"gapless": None} (null or missing); the nx-27017 stand-in answers only
            # this spelling right beside another condition (docs/MONGODB.md).
            clauses.append({"gapless": {"$in": [None]}})
        if not self.everything:
            # Playable: ready, and not a scanned file that vanished (media.records.Track.playable).
            # "$in": [False, None] rather than "$ne": True: the same to MongoDB, and the nx-27017
            # stand-in lost rows of cursor pages with "$ne" inside this "$or" (docs/MONGODB.md).
            visible: list[dict[str, Any]] = [{"status": "ready", "missing": {"$in": [False, None]}}]
            if self.visible_to:
                visible.append({"owner_id": self.visible_to})
            clauses.append({"$or": visible})
        if not clauses:
            return {}
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


EVERY_TRACK = TrackQuery(everything=True)


class ScannedTrack(NamedTuple):
    """What a rescan compares of a scanned track: its path, the size and modification time the last
    scan saw, and whether the file was missing then."""

    id: str
    path: str
    size: int | None
    mtime_ns: int | None
    missing: bool


def _derived(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "title" in fields:
        out["title_sort"] = sort_key(fields["title"])
    if "genre" in fields:
        out["genre_key"] = sort_key(fields["genre"]) if fields["genre"] else None
    return out


class TrackStore:
    def __init__(self, db: Database) -> None:
        self._tracks = db["tracks"]
        self._deletions = Deletions(db)
        self.scan_folders = ScanFolders(db)

    async def get(self, track_id: str) -> Track:
        track = await self.find(track_id)
        if track is None:
            raise NotFound("No such track.")
        return track

    async def find(self, track_id: str) -> Track | None:
        doc = await self._tracks.find_one({"_id": track_id})
        return Track.from_doc(doc) if doc is not None else None

    async def get_many(self, ids: Sequence[str]) -> list[Track]:
        """The tracks of ``ids`` that exist, in no particular order."""
        if not ids:
            return []
        return [Track.from_doc(d) for d in await self._tracks.find(any_of("_id", ids)).to_list(None)]

    async def find_upload(self, owner_id: str, sha256: str) -> Track | None:
        """A track ``owner_id`` uploaded whose original has this SHA-256, if any (served by tracks_owner)."""
        doc = await self._tracks.find_one({"owner_id": owner_id, "original.sha256": sha256})
        return Track.from_doc(doc) if doc is not None else None

    @staticmethod
    def new_document(fields: dict[str, Any]) -> dict[str, Any]:
        """A complete track document (not yet saved); ``fields`` may carry its ``_id``."""
        now = utcnow()
        return {
            "_id": new_id(),
            "album_id": None,
            "duration_ms": None,
            "genre": None,
            "track_no": None,
            "release_year": None,
            "play_count": 0,
            "status": "processing",
            "error": None,
            "progress": 0,
            "renditions": [],
            "loudness": None,
            "gapless": None,
            "cover": None,
            **fields,
            **_derived({"title": fields.get("title"), "genre": fields.get("genre")}),
            "created_at": now,
            "updated_at": now,
        }

    async def insert(self, fields: dict[str, Any]) -> Track:
        doc = self.new_document(fields)
        track = Track.from_doc(doc)  # validated before it reaches the store
        await self._tracks.insert_one(doc)
        return track

    async def insert_many(self, docs: list[dict[str, Any]]) -> list[str]:
        """Insert complete documents (from :meth:`new_document`) in one batch; returns the ids inserted.

        Unordered: a document that collides with an existing one (the same ``scan_path`` added by a
        concurrent scan) is skipped and the rest are inserted.
        """
        if not docs:
            return []
        for doc in docs:
            Track.from_doc(doc)  # validated before it reaches the store
        try:
            await self._tracks.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            failed = {err["index"] for err in exc.details.get("writeErrors", [])}
            return [d["_id"] for i, d in enumerate(docs) if i not in failed]
        except DuplicateKeyError:
            # Backends that report a single failure: find out which ones made it.
            saved = await self.get_many([d["_id"] for d in docs])
            return [t.id for t in saved]
        return [d["_id"] for d in docs]

    async def update(self, track_id: str, changes: dict[str, Any]) -> Track:
        check_track_changes(changes)
        doc = await self._tracks.find_one_and_update(
            {"_id": track_id},
            {"$set": {**changes, **_derived(changes), "updated_at": utcnow()}},
            return_document=True,
        )
        if doc is None:
            raise NotFound("No such track.")
        return Track.from_doc(doc)

    async def delete(self, track_id: str) -> Track:
        """Remove the track and return it (so the caller can clean its files up)."""
        doc = await self._tracks.find_one_and_delete({"_id": track_id})
        if doc is None:
            raise NotFound("No such track.")
        await self._deletions.record("track", track_id)
        if doc.get("scan_path"):
            # The file is still there: the folder's next scan must see that it has no track any more.
            await self.scan_folders.forget([folder_of(doc["scan_path"])])
        return Track.from_doc(doc)

    async def page(
        self, query: TrackQuery, *, sort: str, limit: int, offset: int, after: PageCursor | None = None
    ) -> Page[Track]:
        """A page and the total; from ``after`` (a cursor) or ``offset`` items in."""
        flt = query.to_filter()
        field, direction = sort_field(sort, SORTS)
        docs = await keyset_page(self._tracks, flt, field, direction, limit=limit, offset=offset, after=after)
        return Page(
            [Track.from_doc(d) for d in docs],
            await self._tracks.count_documents(flt),
            PageCursor.after(sort, field, docs, limit),
        )

    async def count(self, query: TrackQuery) -> int:
        return int(await self._tracks.count_documents(query.to_filter()))

    async def ids_where(self, query: TrackQuery) -> list[str]:
        return [d["_id"] for d in await self._tracks.find(query.to_filter(), {"_id": 1}).to_list(None)]

    async def set_many(self, ids: Sequence[str], changes: dict[str, Any]) -> None:
        """The same ``$set`` on many tracks (detaching them from a deleted album, marking files missing)."""
        check_track_changes(changes)
        if ids:
            await self._tracks.update_many(
                any_of("_id", ids),
                {"$set": {**changes, **_derived(changes), "updated_at": utcnow()}},
            )

    async def with_cover(self, album_ids: Sequence[str]) -> dict[str, str]:
        """{album id: id of one of its tracks that has a cover}, for album cover URLs."""
        if not album_ids:
            return {}
        docs = (
            await self._tracks.find(
                {**any_of("album_id", album_ids), "cover": {"$ne": None}}, {"_id": 1, "album_id": 1}
            )
            .sort([("track_no", 1), ("_id", 1)])
            .to_list(None)
        )
        out: dict[str, str] = {}
        for doc in docs:
            out.setdefault(doc["album_id"], doc["_id"])
        return out

    async def scanned_in(
        self, ranges: Sequence[tuple[str, str]], before: datetime, batch: int = 5000
    ) -> AsyncIterator[list[ScannedTrack]]:
        """Scanned tracks whose path lies in one of ``ranges`` (``(low, high)``: low <= path < high,
        in order, not overlapping), in path order, in lists of at most ``batch``, with just what a
        rescan compares: path, size, mtime, missing. Each list is one range of the ``scan_path``
        index, so memory stays flat however many files a folder holds. Only tracks created
        ``before``: those a running scan adds itself must not show up in its own stream."""
        for low, high in ranges:
            bound: dict[str, Any] = {"$gte": low, "$lt": high}
            while True:
                cursor = self._tracks.find({"scan_path": bound}, _SCANNED).sort("scan_path", 1).limit(batch)
                docs = await cursor.to_list(None)
                # Compared here rather than in the query: one range of one index either way, and
                # nx-27017 (the tests' stand-in) loses matches of a date range beside it.
                older = [_scanned(d) for d in docs if d.get("created_at") is None or d["created_at"] < before]
                if older:
                    yield older
                if len(docs) < batch:
                    break
                bound = {"$gt": docs[-1]["scan_path"], "$lt": high}

    async def any_scanned(self, low: str, high: str) -> bool:
        """Whether any scanned track has a path in ``low`` <= path < ``high``."""
        found = await self._tracks.find_one({"scan_path": {"$gte": low, "$lt": high}}, {"_id": 1})
        return found is not None


def _scanned(doc: dict[str, Any]) -> ScannedTrack:
    original = doc.get("original") or {}
    return ScannedTrack(
        doc["_id"],
        doc["scan_path"],
        original.get("size"),
        original.get("mtime_ns"),
        bool(doc.get("missing")),
    )
