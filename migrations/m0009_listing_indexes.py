"""Listing indexes: every catalog sort (by itself, then by id) reads an index in order, never sorts.

A page of tracks, albums or artists in any public sort order, first or deep (cursor paging), is then
an index range scan that stops at the page's end, on MongoDB and on the embedded store alike.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

TRACK_SORT_FIELDS = ("title_sort", "created_at", "play_count", "duration_ms", "release_year", "track_no")
ALBUM_SORT_FIELDS = ("title_key", "release_year", "created_at")
ARTIST_SORT_FIELDS = ("name_key", "created_at")


async def _compound_id_works(db: Any) -> bool:
    """Whether the server can write to a collection with an index ending in ``_id``.

    MongoDB can (any field may be in a compound key). The nx-27017 stand-in accepts the index but then
    refuses every insert ("JSON path error near '_id'", docs/MONGODB.md); there the listing indexes
    leave ``_id`` out and ties are sorted after the index scan.
    """
    probe = db["migration_probe"]
    try:
        await probe.create_index([("a", 1), ("_id", 1)], name="probe_a_id")
        await probe.insert_one({"_id": "probe", "a": 1})
        return True
    except PyMongoError:
        return False
    finally:
        await probe.drop()


async def apply(db: Any) -> None:
    tie = [("_id", 1)] if await _compound_id_works(db) else []
    if not tie:
        log.warning("this database cannot index _id in a compound key; listing indexes leave it out")
    sorts = (("tracks", TRACK_SORT_FIELDS), ("albums", ALBUM_SORT_FIELDS), ("artists", ARTIST_SORT_FIELDS))
    for name, fields in sorts:
        for field in fields:
            await db[name].create_index([(field, 1), *tie], name=f"{name}_sort_{field}")
    # The filtered listings users open most: an artist's tracks by title, an album's in order, a genre.
    tracks, albums = db["tracks"], db["albums"]
    await tracks.create_index([("artist_id", 1), ("title_sort", 1), *tie], name="tracks_artist_title")
    await tracks.create_index([("album_id", 1), ("track_no", 1), *tie], name="tracks_album_order")
    await tracks.create_index([("genre_key", 1), ("title_sort", 1), *tie], name="tracks_genre_title")
    await albums.create_index([("artist_id", 1), ("release_year", 1), *tie], name="albums_artist_year")
