"""Catalog indexes: unique artist names and album titles per artist, track listings, scanned paths."""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    await db["artists"].create_index("name_key", unique=True, name="artists_name_unique")
    await db["artists"].create_index("owner_ids", name="artists_owner")
    await db["albums"].create_index(
        [("artist_id", 1), ("title_key", 1)], unique=True, name="albums_artist_title_unique"
    )
    await db["tracks"].create_index([("artist_id", 1), ("title_sort", 1)], name="tracks_artist")
    await db["tracks"].create_index([("album_id", 1), ("track_no", 1)], name="tracks_album")
    # Ascending: either direction serves both sorts.
    await db["tracks"].create_index([("status", 1), ("created_at", 1)], name="tracks_status_created")
    await db["tracks"].create_index("owner_id", name="tracks_owner")
    await db["tracks"].create_index("genre_key", name="tracks_genre")
    # Only scanned tracks carry scan_path; unique so that two concurrent scans cannot add a file twice.
    await db["tracks"].create_index(
        "scan_path",
        unique=True,
        name="tracks_scan_path_unique",
        partialFilterExpression={"scan_path": {"$exists": True}},
    )
