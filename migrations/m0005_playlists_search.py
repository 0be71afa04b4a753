"""Playlists by owner (listing, newest change first) and by track (pulling a track deleted from the catalog).

Search keeps its index in memory (see ``server/search/service.py``); what it reads from the catalog
rides the catalog's own ``updated_at`` indexes, created here for artists, albums and tracks.
"""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    playlists = db["playlists"]
    await playlists.create_index([("user_id", 1), ("updated_at", 1)], name="playlists_user_updated")
    await playlists.create_index("track_ids", name="playlists_track")
    # The search catch-up reads "changed since" by updated_at on each catalog collection.
    for name in ("artists", "albums", "tracks"):
        await db[name].create_index("updated_at", name=f"{name}_updated_at")
