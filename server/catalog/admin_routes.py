"""Catalog upkeep: ``POST /artists/{id}/merge``, ``POST|GET /scans``, ``PUT|POST /tracks/{id}/cover``.

The web app's admin console and studio find these in the OpenAPI document and offer them.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from server import keys
from server.api import ADMIN, ARTIST, Api
from server.catalog.cover import receive_cover, set_cover, track_for_cover
from server.catalog.merge import merge_artists
from server.catalog.schemas import ArtistOut, ScanOut, Strict, TrackOut

api = Api("/api/v1")

_COVER_CONTENT = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    },
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
}


class MergeIn(Strict):
    into_artist_id: str = Field(min_length=1, max_length=64)
    """The artist that remains; the one in the path is merged into it and deleted."""


class ScanIn(Strict):
    path: str = Field(min_length=1, max_length=4096)
    """Absolute path of a folder on the server."""


@api.route("POST", "/artists/{id}/merge", roles=ADMIN, body=MergeIn, response=ArtistOut, tags=["catalog"])
async def merge_artist(request: web.Request, body: MergeIn) -> ArtistOut:
    """Merge a duplicate artist into another: its albums and tracks move, then it is deleted. Admins."""
    catalog = request.app[keys.CATALOG]
    artist = await merge_artists(catalog, request.match_info["id"], body.into_artist_id)
    return catalog.artist_view(artist)


@api.route("POST", "/scans", roles=ADMIN, body=ScanIn, response=ScanOut, status=202, tags=["catalog"])
async def start_scan(request: web.Request, body: ScanIn) -> ScanOut:
    """Import a folder on the server into the catalog, in the background; poll ``GET /scans/{id}``."""
    return await request.app[keys.SCANS].start(body.path, request[keys.PRINCIPAL].user_id)


@api.route("GET", "/scans/{id}", roles=ADMIN, response=ScanOut, tags=["catalog"])
async def get_scan(request: web.Request) -> ScanOut:
    """Where a scan stands: files done of those found, and its summary once done."""
    return await request.app[keys.SCANS].get(request.match_info["id"])


async def _upload_cover(request: web.Request) -> TrackOut:
    settings = request.app[keys.SETTINGS]
    catalog = request.app[keys.CATALOG]
    track = await track_for_cover(catalog, request[keys.PRINCIPAL], request.match_info["id"])
    image = await receive_cover(request, settings.tmp_dir)
    try:
        track = await set_cover(catalog, track, image.path)
    finally:
        image.discard()
    return await catalog.track_view(track)


@api.route(
    "PUT",
    "/tracks/{id}/cover",
    roles=ARTIST,
    response=TrackOut,
    tags=["catalog"],
    request_content=_COVER_CONTENT,
)
async def put_cover(request: web.Request) -> TrackOut:
    """Replace a track's cover with a JPEG or PNG of at most 10 MB (its uploader and admins)."""
    return await _upload_cover(request)


@api.route(
    "POST",
    "/tracks/{id}/cover",
    roles=ARTIST,
    response=TrackOut,
    tags=["catalog"],
    request_content=_COVER_CONTENT,
)
async def post_cover(request: web.Request) -> TrackOut:
    """The same as ``PUT /tracks/{id}/cover``, for clients that can only POST a form."""
    return await _upload_cover(request)
