"""Stars and ratings of the Subsonic API (``server/subsonic/annotations.py``), read per user."""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    await db["annotations"].create_index([("user_id", 1), ("starred_at", 1)], name="annotations_user_starred")
