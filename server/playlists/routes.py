"""``/api/v1/playlists``: the caller's playlists, public ones of others, track edits, M3U export."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from server import keys
from server.api import SIGNED_IN, Api
from server.errors import Invalid
from server.playlists.m3u import CONTENT_TYPE, render_m3u
from server.playlists.schemas import (
    AddTracks,
    EditQuery,
    MoveTrack,
    PlaylistIn,
    PlaylistList,
    PlaylistListQuery,
    PlaylistOut,
    PlaylistPatch,
)
from server.playlists.service import PlaylistService

api = Api("/api/v1")
ID = "{id:[A-Za-z0-9_-]+}"


def _service(request: web.Request) -> PlaylistService:
    return request.app[keys.PLAYLISTS]


@api.route(
    "GET", "/playlists", roles=SIGNED_IN, query=PlaylistListQuery, response=PlaylistList, tags=["playlists"]
)
async def list_playlists(request: web.Request, query: PlaylistListQuery) -> PlaylistList:
    """Your playlists, or the public playlists of ``user_id``."""
    principal = request[keys.PRINCIPAL]
    owner = query.user_id or principal.user_id
    service = _service(request)
    found, total = await service.store.list_for(
        owner, public_only=owner != principal.user_id, limit=query.limit, offset=query.offset
    )
    return PlaylistList(items=[service.summary(p) for p in found], total=total)


@api.route(
    "POST",
    "/playlists",
    roles=SIGNED_IN,
    body=PlaylistIn,
    response=PlaylistOut,
    status=201,
    tags=["playlists"],
)
async def create_playlist(request: web.Request, body: PlaylistIn) -> PlaylistOut:
    """A new, empty playlist (private unless ``is_public``)."""
    principal = request[keys.PRINCIPAL]
    service = _service(request)
    playlist = await service.store.create(
        user_id=principal.user_id, name=body.name, description=body.description, is_public=body.is_public
    )
    return await service.view(principal, playlist)


@api.route(
    "GET",
    f"/playlists/{ID}.m3u8",
    roles=SIGNED_IN,
    tags=["playlists"],
    response_content={CONTENT_TYPE: "Extended M3U; each entry a signed stream URL"},
)
async def export_m3u(request: web.Request) -> web.Response:
    """The playlist as extended M3U of signed stream URLs (VLC, mpv and ffmpeg open it)."""
    principal = request[keys.PRINCIPAL]
    service = _service(request)
    playlist = await service.readable(principal, request.match_info["id"])
    tracks = await service.playable(principal, playlist)
    delivery = request.app[keys.DELIVERY]
    body = render_m3u(
        playlist.name,
        tracks,
        lambda track_id: delivery.urls(request, track_id, principal.user_id, principal.login_id).stream_url,
    )
    filename = quote(playlist.name[:80] or "playlist", safe="") + ".m3u8"
    return web.Response(
        text=body,
        content_type=CONTENT_TYPE,
        charset="utf-8",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            # The signed URLs inside expire: never cache the list itself.
            "Cache-Control": "no-store",
        },
    )


@api.route("GET", f"/playlists/{ID}", roles=SIGNED_IN, response=PlaylistOut, tags=["playlists"])
async def get_playlist(request: web.Request) -> PlaylistOut:
    """One playlist with its tracks: yours, or a public one (someone's private playlist is 404)."""
    principal = request[keys.PRINCIPAL]
    service = _service(request)
    return await service.view(principal, await service.readable(principal, request.match_info["id"]))


@api.route(
    "PATCH", f"/playlists/{ID}", roles=SIGNED_IN, body=PlaylistPatch, response=PlaylistOut, tags=["playlists"]
)
async def patch_playlist(request: web.Request, body: PlaylistPatch) -> PlaylistOut:
    """Rename, describe, or make public/private (owner only)."""
    principal = request[keys.PRINCIPAL]
    service = _service(request)
    playlist_id = request.match_info["id"]
    await service.editable(principal, playlist_id)
    return await service.view(principal, await service.change_details(playlist_id, body))


@api.route("DELETE", f"/playlists/{ID}", roles=SIGNED_IN, status=204, tags=["playlists"])
async def delete_playlist(request: web.Request) -> None:
    """Delete a playlist (its owner, or an admin)."""
    principal = request[keys.PRINCIPAL]
    service = _service(request)
    playlist_id = request.match_info["id"]
    if not principal.is_admin:
        await service.editable(principal, playlist_id)
    await service.store.delete(playlist_id)


@api.route(
    "POST",
    f"/playlists/{ID}/tracks",
    roles=SIGNED_IN,
    body=AddTracks,
    response=PlaylistOut,
    tags=["playlists"],
)
async def add_tracks(request: web.Request, body: AddTracks) -> PlaylistOut:
    """Insert tracks before ``position`` (the end when omitted); duplicates need ``allow_duplicates``."""
    principal = request[keys.PRINCIPAL]
    service = _service(request)
    playlist = await service.add(
        principal, request.match_info["id"], body.track_ids, body.position, body.allow_duplicates
    )
    return await service.view(principal, playlist)


@api.route(
    "DELETE",
    f"/playlists/{ID}/tracks/{{position}}",
    roles=SIGNED_IN,
    query=EditQuery,
    response=PlaylistOut,
    tags=["playlists"],
)
async def remove_track(request: web.Request, query: EditQuery) -> PlaylistOut:
    """Remove the track at ``position`` (0-based); 409 if the playlist changed meanwhile."""
    principal = request[keys.PRINCIPAL]
    raw = request.match_info["position"]
    if not raw.isdigit() or len(raw) > 6:
        raise Invalid(
            code="position_out_of_range", details={"fields": {"position": "must be an integer ≥ 0"}}
        )
    service = _service(request)
    playlist = await service.remove(principal, request.match_info["id"], int(raw), query.version)
    return await service.view(principal, playlist)


@api.route(
    "POST",
    f"/playlists/{ID}/tracks/move",
    roles=SIGNED_IN,
    body=MoveTrack,
    response=PlaylistOut,
    tags=["playlists"],
)
async def move_track(request: web.Request, body: MoveTrack) -> PlaylistOut:
    """Move the track at ``from`` to ``to`` (0-based positions); 409 if the playlist changed meanwhile."""
    principal = request[keys.PRINCIPAL]
    service = _service(request)
    playlist = await service.move(principal, request.match_info["id"], body.from_, body.to, body.version)
    return await service.view(principal, playlist)
