"""What the transcoder reads and writes in the ``tracks`` collection, and nothing more.

The catalog (``server/catalog/store.py``) owns the track document and documents its shape; the
worker cannot import ``server``, so its few writes - progress, ready with the results, failed with a
reason - live here. Every write names ``status: processing`` in its filter: a track deleted or
re-processed meanwhile is left alone, and the caller learns it from the ``None`` answer. (The
catalog caches tracks only once they are ready or failed, so these writes never leave a stale copy.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from media.records import Track, check_track_changes, check_transition

Database = Any


def _utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000, tzinfo=None)


class TrackRecords:
    def __init__(self, db: Database) -> None:
        self._tracks = db["tracks"]

    async def get(self, track_id: str) -> Track | None:
        doc = await self._tracks.find_one({"_id": track_id})
        return None if doc is None else Track.from_doc(doc)

    async def processing_ids(self) -> list[str]:
        """Ids of every track waiting for a transcode."""
        docs = await self._tracks.find({"status": "processing"}, projection={"_id": 1}).to_list(None)
        return [d["_id"] for d in docs]

    async def next_generation(self, track_id: str) -> int:
        """Bump and return the track's ladder generation: the fencing token of a new claim on one of
        its jobs (``media/fencing.py``); every later claim gets a greater one. 0 if the track is gone."""
        doc = await self._tracks.find_one_and_update(
            {"_id": track_id},
            {"$inc": {"ladder_generation": 1}},
            projection={"ladder_generation": 1},
            return_document=True,
        )
        return int(doc["ladder_generation"]) if doc else 0

    async def set_progress(self, track_id: str, progress: int) -> None:
        # Kept on the document too, so a page loaded between two events shows it.
        await self._tracks.update_one(
            {"_id": track_id, "status": "processing"},
            {"$set": {"progress": progress, "updated_at": _utcnow()}},
        )

    async def mark_ready(self, track_id: str, results: dict[str, Any]) -> Track | None:
        """processing → ready with the transcode's results; None if the track is gone or not processing."""
        return await self._write(track_id, {**results, "status": "ready", "error": None, "progress": 100})

    async def refresh_ready(self, track_id: str, results: dict[str, Any]) -> Track | None:
        """A ready track's results replaced by a new transcode's (a re-analysis); None if it is gone
        or no longer ready. It stays ready: nothing a listener sees goes away meanwhile."""
        check_track_changes(results)
        doc = await self._tracks.find_one_and_update(
            {"_id": track_id, "status": "ready"},
            {"$set": {**results, "updated_at": _utcnow()}},
            return_document=True,
        )
        return None if doc is None else Track.from_doc(doc)

    async def mark_failed(self, track_id: str, reason: str) -> Track | None:
        """processing → failed with a reason a human understands."""
        return await self._write(track_id, {"status": "failed", "error": reason})

    async def _write(self, track_id: str, changes: dict[str, Any]) -> Track | None:
        # Validated before it reaches the store; the filter makes the transition atomic.
        check_track_changes(changes)
        check_transition("processing", changes["status"])
        doc = await self._tracks.find_one_and_update(
            {"_id": track_id, "status": "processing"},
            {"$set": {**changes, "updated_at": _utcnow()}},
            return_document=True,
        )
        return None if doc is None else Track.from_doc(doc)
