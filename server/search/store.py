"""Reads the search index needs from the catalog collections (``artists``, ``albums``, ``tracks``).

Read-only: the catalog owns these documents. Two measured traps of the embedded store shape the
queries (100,000 tracks, measured with the in-memory index this replaced):

- ``{"_id": {"$in": ids}}`` scans the whole collection (~1.3 s); an ``$or`` of ``_id`` equalities
  is answered from the primary key (~2 ms for 20). MongoDB plans both the same way.
- A range on ``updated_at`` uses its index only together with a sort on that field (1.3 s → 2 ms).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Literal

from server.catalog.deletions import Deletions
from server.documents import any_of
from server.handles import Database

Kind = Literal["artist", "album", "track"]
KINDS: tuple[Kind, ...] = ("artist", "album", "track")
COLLECTIONS: dict[Kind, str] = {"artist": "artists", "album": "albums", "track": "tracks"}
FIELDS: dict[Kind, dict[str, int]] = {
    "artist": {"name": 1, "bio": 1, "owner_ids": 1, "created_at": 1, "updated_at": 1},
    "album": {
        "title": 1,
        "artist_id": 1,
        "release_year": 1,
        "owner_ids": 1,
        "created_at": 1,
        "updated_at": 1,
    },
    "track": {
        "title": 1,
        "artist_id": 1,
        "album_id": 1,
        "genre": 1,
        "release_year": 1,
        "status": 1,
        "owner_id": 1,
        "play_count": 1,
        "duration_ms": 1,
        "track_no": 1,
        "error": 1,
        "progress": 1,
        "cover": 1,
        "original.source": 1,
        # What a Subsonic song shows of its file (contentType, suffix, size, bitRate).
        "original.mime": 1,
        "original.size": 1,
        "missing": 1,
        "loudness": 1,
        "gapless": 1,
        "renditions": 1,
        "created_at": 1,
        "updated_at": 1,
    },
}
"""The projection each kind is indexed from: what the index needs and what the result views show."""
BATCH = 2000


class SearchStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._deletions = Deletions(db)

    def _coll(self, kind: Kind) -> Any:
        return self._db[COLLECTIONS[kind]]

    async def stream(self, kind: Kind) -> AsyncIterator[dict[str, Any]]:
        """Every document of ``kind``, projected to what the index keeps.

        MongoDB streams it in batches; the embedded engine reads the whole collection before the
        first document (its cursors are not lazy), which a build from nothing pays once.
        """
        async for doc in self._coll(kind).find({}, FIELDS[kind]):
            yield doc

    async def changed_since(self, kind: Kind, since: datetime) -> list[dict[str, Any]]:
        """Documents of ``kind`` updated at or after ``since``, oldest first (at most ``BATCH``)."""
        cursor = self._coll(kind).find({"updated_at": {"$gte": since}}, FIELDS[kind]).sort("updated_at", 1)
        return await cursor.limit(BATCH).to_list(None)

    async def ids(self, kind: Kind) -> set[str]:
        return {d["_id"] for d in await self._coll(kind).find({}, {"_id": 1}).to_list(None)}

    async def play_counts(self) -> dict[str, int]:
        """{track id: play_count}: playback bumps counts without touching ``updated_at``."""
        docs = await self._coll("track").find({}, {"_id": 1, "play_count": 1}).to_list(None)
        return {d["_id"]: int(d.get("play_count") or 0) for d in docs}

    async def deleted_since(self, since: datetime) -> list[dict[str, Any]]:
        """Tombstones of catalog deletes made at or after ``since`` (at most ``BATCH``), oldest first."""
        return await self._deletions.since(since, BATCH)

    async def prune_deletions(self) -> None:
        await self._deletions.prune()

    async def fetch(
        self, kind: Kind, ids: Sequence[str], projected: bool = False
    ) -> dict[str, dict[str, Any]]:
        """{id: document} of the ids that still exist (whole documents unless ``projected``)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        docs = (
            await self._coll(kind)
            .find(any_of("_id", wanted), FIELDS[kind] if projected else None)
            .to_list(None)
        )
        return {d["_id"]: d for d in docs}
