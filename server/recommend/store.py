"""Reads of ``play_history`` that recommendations need (read-only: playback owns the collection).

Both queries ride the indexes of migration m0004 (``user_id, played_at`` and ``track_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from server.handles import Database


class RecentPlay(NamedTuple):
    track_id: str
    played_at: datetime
    ms_played: int


class UserPlay(NamedTuple):
    user_id: str
    track_id: str


class ListeningStore:
    def __init__(self, db: Database) -> None:
        self._history = db["play_history"]

    async def recent(self, user_id: str, limit: int) -> list[RecentPlay]:
        """The user's latest listens, newest first."""
        cursor = (
            self._history.find({"user_id": user_id}, {"track_id": 1, "played_at": 1, "ms_played": 1})
            .sort([("played_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return [
            RecentPlay(d["track_id"], d["played_at"], int(d.get("ms_played") or 0))
            for d in await cursor.to_list(None)
        ]

    async def listeners_of(self, track_id: str, limit: int) -> list[str]:
        """Users who played ``track_id`` (from its latest ``limit`` listens)."""
        docs = await self._history.find({"track_id": track_id}, {"user_id": 1}).limit(limit).to_list(None)
        return list(dict.fromkeys(d["user_id"] for d in docs))

    async def plays_of(self, user_ids: Sequence[str], limit: int) -> list[UserPlay]:
        """Listens of these users, at most ``limit``."""
        if not user_ids:
            return []
        ids = list(user_ids)
        flt: dict[str, Any] = {"user_id": ids[0] if len(ids) == 1 else {"$in": ids}}
        docs = await self._history.find(flt, {"user_id": 1, "track_id": 1}).limit(limit).to_list(None)
        return [UserPlay(d["user_id"], d["track_id"]) for d in docs]
