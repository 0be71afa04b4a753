"""``play_history``: a user's listens by time (``GET /me/history``), and listens by track.

Ascending keys only (the embedded store refuses descending ones); MongoDB walks the index backwards
for the newest-first listing.
"""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    history = db["play_history"]
    await history.create_index([("user_id", 1), ("played_at", 1)], name="history_user_played_at")
    await history.create_index("track_id", name="history_track")
