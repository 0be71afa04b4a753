"""Merging a duplicate artist into another: its albums and tracks move, then the duplicate is deleted.

No transactions (the embedded store has none), so every step is idempotent and the source artist is
deleted last: a merge interrupted midway leaves the source with fewer albums and tracks, and running
the same merge again finishes the job. Albums whose title the target already has (compared the way
album titles are unique: case- and accent-insensitively) are folded into the target's album; the
others change artist.
"""

from __future__ import annotations

from media.records import Artist
from server.catalog.names import sort_key
from server.catalog.service import CatalogService
from server.catalog.store import TrackQuery
from server.errors import Invalid

_ALL = 100_000
"""Upper bound of albums read per artist in one merge (far above any real discography)."""


async def merge_artists(catalog: CatalogService, source_id: str, target_id: str) -> Artist:
    """Move everything of artist ``source_id`` to ``target_id`` and delete the source; the target.

    Admins only (the route checks). :class:`NotFound` when either artist is unknown (a merge that
    already finished answers 404 for its source), :class:`Invalid` for a merge into itself.
    """
    if source_id == target_id:
        raise Invalid(
            "An artist cannot be merged into itself.",
            code="merge_into_self",
            details={"fields": {"into_artist_id": "must differ from the artist merged"}},
        )
    source = await catalog.artists.get(source_id)
    target = await catalog.artists.get(target_id)

    # Owners of the duplicate keep managing the music they had, now under the target.
    owners = list(dict.fromkeys([*target.owner_ids, *source.owner_ids]))
    if owners != list(target.owner_ids):
        target = await catalog.artists.update(target_id, {"owner_ids": owners})

    target_albums = await catalog.albums.page(artist_id=target_id, sort="title", limit=_ALL, offset=0)
    by_title = {sort_key(a.title): a.id for a in target_albums.items}
    source_albums = await catalog.albums.page(artist_id=source_id, sort="title", limit=_ALL, offset=0)
    changed_tracks: list[str] = []
    for album in source_albums.items:
        into = by_title.get(sort_key(album.title))
        if into is None:
            await catalog.albums.update(album.id, {"artist_id": target_id})
            await catalog.cache.invalidate("album", album.id)
            await catalog.library("album", album.id, "updated")
            continue
        # Tracks first, album last: an interruption leaves the source album (with fewer tracks) to retry.
        ids = await catalog.tracks.ids_where(TrackQuery(album_id=album.id, everything=True))
        await catalog.tracks.set_many(ids, {"album_id": into, "artist_id": target_id})
        await catalog.cache.invalidate("track", *ids)
        changed_tracks += ids
        if catalog.loudness is not None:
            await catalog.loudness.refresh(into)  # the folded album is one programme now
        await catalog.albums.delete(album.id)
        await catalog.cache.invalidate("album", album.id)
        await catalog.library("album", album.id, "deleted")

    # Tracks without an album, and those of albums that changed artist above.
    ids = await catalog.tracks.ids_where(TrackQuery(artist_id=source_id, everything=True))
    await catalog.tracks.set_many(ids, {"artist_id": target_id})
    await catalog.cache.invalidate("track", *ids)
    changed_tracks += ids

    await catalog.artists.delete(source_id)
    await catalog.cache.invalidate("artist", source_id, target_id)
    for track_id in dict.fromkeys(changed_tracks):
        await catalog.library("track", track_id, "updated")
    await catalog.library("artist", source_id, "deleted")
    await catalog.library("artist", target_id, "updated")
    return target
