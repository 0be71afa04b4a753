"""``/api/v1/artists``, ``/api/v1/albums`` and ``/api/v1/tracks`` (with the upload): parse and answer.

The rules live in :mod:`server.catalog.service`; these handlers only translate HTTP to calls.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from server import keys
from server.api import ARTIST, SIGNED_IN, Api
from server.catalog.cover import cover_answer
from server.catalog.paging import cursor_for
from server.catalog.schemas import (
    AlbumDetail,
    AlbumIn,
    AlbumList,
    AlbumOut,
    AlbumPatch,
    AlbumQuery,
    ArtistIn,
    ArtistList,
    ArtistOut,
    ArtistPatch,
    ArtistQuery,
    TrackList,
    TrackOut,
    TrackPatch,
)
from server.catalog.schemas import TrackQuery as TrackQueryIn
from server.catalog.store import TrackQuery
from server.catalog.upload import receive_upload
from server.disk import check_room

api = Api("/api/v1")

_UPLOAD_CONTENT = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "title": {"type": "string"},
                "artist": {"type": "string"},
                "album": {"type": "string"},
                "genre": {"type": "string"},
                "release_year": {"type": "integer"},
                "track_no": {"type": "integer"},
                "allow_duplicate": {
                    "type": "boolean",
                    "description": "Upload even if you already uploaded this very file (same SHA-256).",
                },
            },
        }
    }
}


# -- artists ---------------------------------------------------------------------------------------


@api.route("GET", "/artists", roles=SIGNED_IN, query=ArtistQuery, response=ArtistList, tags=["catalog"])
async def list_artists(request: web.Request, query: ArtistQuery) -> ArtistList:
    """Artists by name (``q`` = name prefix; ``mine=true`` for the profiles you manage)."""
    catalog = request.app[keys.CATALOG]
    page = await catalog.list_artists(
        name_prefix=query.q,
        owner_id=request[keys.PRINCIPAL].user_id if query.mine else None,
        sort=query.sort,
        limit=query.limit,
        offset=query.offset,
        after=cursor_for(query.cursor, query.sort, query.offset),
    )
    return ArtistList(
        items=[catalog.artist_view(a) for a in page.items],
        total=page.total,
        limit=query.limit,
        offset=query.offset,
        next_cursor=page.next_cursor,
    )


@api.route("POST", "/artists", roles=ARTIST, body=ArtistIn, response=ArtistOut, status=201, tags=["catalog"])
async def create_artist(request: web.Request, body: ArtistIn) -> ArtistOut:
    """Create an artist profile; you manage it."""
    catalog = request.app[keys.CATALOG]
    return catalog.artist_view(await catalog.create_artist(request[keys.PRINCIPAL], body.name, body.bio))


@api.route("GET", "/artists/{id}", roles=SIGNED_IN, response=ArtistOut, tags=["catalog"])
async def get_artist(request: web.Request) -> ArtistOut:
    """One artist."""
    catalog = request.app[keys.CATALOG]
    return catalog.artist_view(await catalog.artist(request.match_info["id"]))


@api.route("PATCH", "/artists/{id}", roles=ARTIST, body=ArtistPatch, response=ArtistOut, tags=["catalog"])
async def patch_artist(request: web.Request, body: ArtistPatch) -> ArtistOut:
    """Rename an artist or change the bio (its owners and admins)."""
    catalog = request.app[keys.CATALOG]
    changes = body.model_dump(exclude_unset=True)
    artist = await catalog.update_artist(request[keys.PRINCIPAL], request.match_info["id"], changes)
    return catalog.artist_view(artist)


@api.route("DELETE", "/artists/{id}", roles=ARTIST, status=204, tags=["catalog"])
async def delete_artist(request: web.Request) -> None:
    """Delete an artist without tracks or albums (its owners and admins)."""
    await request.app[keys.CATALOG].delete_artist(request[keys.PRINCIPAL], request.match_info["id"])


# -- albums ----------------------------------------------------------------------------------------


@api.route("GET", "/albums", roles=SIGNED_IN, query=AlbumQuery, response=AlbumList, tags=["catalog"])
async def list_albums(request: web.Request, query: AlbumQuery) -> AlbumList:
    """Albums, optionally of one artist."""
    catalog = request.app[keys.CATALOG]
    page = await catalog.list_albums(
        artist_id=query.artist_id,
        sort=query.sort,
        limit=query.limit,
        offset=query.offset,
        after=cursor_for(query.cursor, query.sort, query.offset),
    )
    return AlbumList(
        items=await catalog.album_views(page.items),
        total=page.total,
        limit=query.limit,
        offset=query.offset,
        next_cursor=page.next_cursor,
    )


@api.route("POST", "/albums", roles=ARTIST, body=AlbumIn, response=AlbumOut, status=201, tags=["catalog"])
async def create_album(request: web.Request, body: AlbumIn) -> AlbumOut:
    """Create an album for an artist you manage."""
    catalog = request.app[keys.CATALOG]
    album = await catalog.create_album(request[keys.PRINCIPAL], body.title, body.artist_id, body.release_year)
    return (await catalog.album_views([album]))[0]


@api.route("GET", "/albums/{id}", roles=SIGNED_IN, response=AlbumDetail, tags=["catalog"])
async def get_album(request: web.Request) -> AlbumDetail:
    """One album with its artist and the tracks you may see, in track order."""
    return await request.app[keys.CATALOG].album_detail(request[keys.PRINCIPAL], request.match_info["id"])


@api.route("PATCH", "/albums/{id}", roles=ARTIST, body=AlbumPatch, response=AlbumOut, tags=["catalog"])
async def patch_album(request: web.Request, body: AlbumPatch) -> AlbumOut:
    """Rename an album or change its year (its owners, its artist's owners, admins)."""
    catalog = request.app[keys.CATALOG]
    changes = body.model_dump(exclude_unset=True)
    album = await catalog.update_album(request[keys.PRINCIPAL], request.match_info["id"], changes)
    return (await catalog.album_views([album]))[0]


@api.route("DELETE", "/albums/{id}", roles=ARTIST, status=204, tags=["catalog"])
async def delete_album(request: web.Request) -> None:
    """Delete an album; its tracks remain, without an album."""
    await request.app[keys.CATALOG].delete_album(request[keys.PRINCIPAL], request.match_info["id"])


# -- tracks ----------------------------------------------------------------------------------------


@api.route("GET", "/tracks", roles=SIGNED_IN, query=TrackQueryIn, response=TrackList, tags=["catalog"])
async def list_tracks(request: web.Request, query: TrackQueryIn) -> TrackList:
    """Tracks you may see, filtered, sorted (``-`` for descending) and paged, with the total."""
    catalog = request.app[keys.CATALOG]
    principal = request[keys.PRINCIPAL]
    flt = TrackQuery(
        artist_id=query.artist_id,
        album_id=query.album_id,
        genre=query.genre,
        status=query.status,
        visible_to=principal.user_id,
        everything=principal.is_admin,
    )
    page = await catalog.list_tracks(
        flt,
        sort=query.sort,
        limit=query.limit,
        offset=query.offset,
        after=cursor_for(query.cursor, query.sort, query.offset),
    )
    return TrackList(
        items=await catalog.track_views(page.items),
        total=page.total,
        limit=query.limit,
        offset=query.offset,
        next_cursor=page.next_cursor,
    )


@api.route(
    "POST",
    "/tracks",
    roles=ARTIST,
    response=TrackOut,
    status=202,
    tags=["catalog"],
    request_content=_UPLOAD_CONTENT,
)
async def upload_track(request: web.Request) -> TrackOut:
    """Upload an audio file; it is transcoded in the background (status ``processing``)."""
    settings = request.app[keys.SETTINGS]
    # Refused before a byte is read when the disk would go below HS_MIN_FREE_MB (server/disk.py).
    await asyncio.to_thread(check_room, settings.data_dir, request.content_length or 0, settings.min_free_mb)
    received = await receive_upload(request, settings.tmp_dir, settings.max_upload_mb * 1024 * 1024)
    track = await request.app[keys.INGEST].ingest(request[keys.PRINCIPAL], received)
    return await request.app[keys.CATALOG].track_view(track)


@api.route("GET", "/tracks/{id}", roles=SIGNED_IN, response=TrackOut, tags=["catalog"])
async def get_track(request: web.Request) -> TrackOut:
    """One track (ready, or yours, or any for admins)."""
    catalog = request.app[keys.CATALOG]
    return await catalog.track_view(
        await catalog.visible_track(request[keys.PRINCIPAL], request.match_info["id"])
    )


@api.route("PATCH", "/tracks/{id}", roles=ARTIST, body=TrackPatch, response=TrackOut, tags=["catalog"])
async def patch_track(request: web.Request, body: TrackPatch) -> TrackOut:
    """Edit a track's details (its uploader and admins); null clears an optional field."""
    catalog = request.app[keys.CATALOG]
    changes = body.model_dump(exclude_unset=True)
    return await catalog.track_view(
        await catalog.update_track(request[keys.PRINCIPAL], request.match_info["id"], changes)
    )


@api.route("DELETE", "/tracks/{id}", roles=ARTIST, status=204, tags=["catalog"])
async def delete_track(request: web.Request) -> None:
    """Delete a track, its renditions, its cover and (for uploads) its original."""
    await request.app[keys.CATALOG].delete_track(request[keys.PRINCIPAL], request.match_info["id"])


@api.route(
    "GET",
    "/tracks/{id}/cover",
    roles=SIGNED_IN,
    tags=["catalog"],
    response_content={"image/jpeg": "The track's cover, at most 1200 px."},
)
async def get_cover(request: web.Request) -> web.StreamResponse:
    """The cover art extracted from the track's file."""
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(request[keys.PRINCIPAL], request.match_info["id"])
    return await cover_answer(request, catalog, track)
