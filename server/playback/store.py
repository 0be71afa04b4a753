"""The ``play_history`` collection, and the one write playback makes to ``tracks`` (its play count).

A history document is one listen: one ``play`` command, from then until the next play or stop::

    {_id (the listen id), user_id, track_id, played_at (when the play command came), ms_played,
     device (the device id, or None), counted (True once the listen counted toward play_count)}

``ms_played`` only ever grows (``$max``), so updates arriving out of order across processes can never
shrink it. The play count is bumped by ``$inc`` on the track only after the ``counted`` flag of the
listen flipped here from False to True, so a listen adds at most one play whatever is retried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from media.records import Listen
from server.handles import Database


class HistoryStore:
    def __init__(self, db: Database) -> None:
        self._history = db["play_history"]
        # Only ``play_count`` is written there (atomically); the catalog owns everything else of a track.
        self._tracks = db["tracks"]

    async def start_listen(
        self, listen_id: str, *, user_id: str, track_id: str, played_at: datetime, device: str | None
    ) -> None:
        await self._history.insert_one(
            {
                "_id": listen_id,
                "user_id": user_id,
                "track_id": track_id,
                "played_at": played_at,
                "ms_played": 0,
                "device": device,
                "counted": False,
            }
        )

    async def forget_listen(self, listen_id: str) -> None:
        """Drop a listen that never started (its play command turned out to be a retry)."""
        await self._history.delete_one({"_id": listen_id, "ms_played": 0})

    async def record_heard(self, listen_id: str, ms_played: int) -> None:
        await self._history.update_one({"_id": listen_id}, {"$max": {"ms_played": ms_played}})

    async def mark_counted(self, listen_id: str) -> bool:
        """Flip the listen to counted; True only for the one call that flipped it."""
        result = await self._history.update_one(
            {"_id": listen_id, "counted": False}, {"$set": {"counted": True}}
        )
        return bool(result.modified_count == 1)

    async def forget_user(self, user_id: str) -> None:
        """A deleted account's listens. Play counts and trending keep them, as anonymous numbers."""
        await self._history.delete_many({"user_id": user_id})

    async def count_play(self, track_id: str) -> tuple[bool, str | None]:
        """One more play of the track: (whether it still exists, its genre), read in the same step."""
        # A deleted track simply matches nothing.
        doc = await self._tracks.find_one_and_update(
            {"_id": track_id}, {"$inc": {"play_count": 1}}, projection={"genre": 1}
        )
        return doc is not None, (doc or {}).get("genre")

    async def recent(self, user_id: str, *, limit: int, before: datetime | None = None) -> list[Listen]:
        """The user's listens, newest first; ``before`` pages on from an earlier page's last ``played_at``."""
        flt: dict[str, Any] = {"user_id": user_id}
        if before is not None:
            flt["played_at"] = {"$lt": before}
        cursor = self._history.find(flt).sort([("played_at", -1), ("_id", -1)]).limit(limit)
        return [Listen.from_doc(d) for d in await cursor.to_list(None)]
