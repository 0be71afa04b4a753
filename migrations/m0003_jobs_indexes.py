"""Transcode jobs: by track and state (the live job of a track), and by state and age (the admin list).

Ascending keys only (the embedded store accepts no others); MongoDB walks them backwards for the
newest-first listings.
"""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    await db["jobs"].create_index([("track_id", 1), ("state", 1)], name="jobs_track_state")
    await db["jobs"].create_index([("state", 1), ("created_at", 1)], name="jobs_state_created")
    await db["jobs"].create_index([("created_at", 1)], name="jobs_created")
