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
"""

from __future__ import annotations

from typing import Any

from server.documents import new_id, utcnow
from server.errors import NotFound
from server.handles import Database


class TrackStore:
    def __init__(self, db: Database) -> None:
        self._tracks = db["tracks"]

    async def get(self, track_id: str) -> dict[str, Any]:
        doc = await self._tracks.find_one({"_id": track_id})
        if doc is None:
            raise NotFound("No such track.")
        return doc

    async def insert(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        doc = {
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
            "cover": None,
            **fields,
            "created_at": now,
            "updated_at": now,
        }
        await self._tracks.insert_one(doc)
        return doc

    async def update(self, track_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        doc = await self._tracks.find_one_and_update(
            {"_id": track_id}, {"$set": {**changes, "updated_at": utcnow()}}, return_document=True
        )
        if doc is None:
            raise NotFound("No such track.")
        return doc
