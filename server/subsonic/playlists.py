"""Playlists: ``getPlaylists``, ``getPlaylist``, ``createPlaylist``, ``updatePlaylist``, ``deletePlaylist``.

The same playlists and rules as ``/api/v1/playlists`` (:class:`PlaylistService`): the owner edits;
others read public ones. ``createPlaylist`` with a ``playlistId`` replaces that playlist's songs, as
the protocol says; ``updatePlaylist`` removes by index (all in one edit, highest first) then appends.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys
from server.api import iso, validate
from server.playlists.schemas import PlaylistIn, PlaylistPatch, PlaylistSummary
from server.subsonic.auth import Caller
from server.subsonic.browsing import songs
from server.subsonic.protocol import Generic, Params

PAGE = 200


def _playlist_element(summary: PlaylistSummary, owner: str, duration_ms: int | None = None) -> dict[str, Any]:
    return {
        "id": summary.id,
        "name": summary.name,
        "comment": summary.description,
        "owner": owner,
        "public": summary.is_public,
        "songCount": summary.track_count,
        "duration": round((duration_ms or 0) / 1000),
        "created": iso(summary.created_at),
        "changed": iso(summary.updated_at),
    }


async def get_playlists(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    service = request.app[keys.PLAYLISTS]
    out = []
    offset = 0
    while True:
        found, total = await service.store.list_for(
            caller.user.id, public_only=False, limit=PAGE, offset=offset
        )
        out.extend(_playlist_element(service.summary(p), caller.user.username) for p in found)
        offset += len(found)
        if not found or offset >= total:
            break
    return {"playlists": {"playlist": out}}


async def get_playlist(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    return {"playlist": await _full(request, caller, params.required("id"))}


async def _full(request: web.Request, caller: Caller, playlist_id: str) -> dict[str, Any]:
    service = request.app[keys.PLAYLISTS]
    catalog = request.app[keys.CATALOG]
    playlist = await service.readable(caller.principal, playlist_id)
    view = await service.view(caller.principal, playlist)
    ids = [t.id for t in view.tracks]
    owner = caller.user.username
    if playlist.user_id != caller.user.id:
        owner = (await request.app[keys.USERS].get(playlist.user_id)).username
    element = _playlist_element(service.summary(playlist), owner, view.duration_ms)
    element["songCount"] = len(ids)
    element["entry"] = await songs(request, caller, await catalog.tracks_in_order(ids))
    return element


async def create_playlist(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    service = request.app[keys.PLAYLISTS]
    song_ids = params.all("songId")
    playlist_id = params.get("playlistId")
    if playlist_id:
        playlist = await service.editable(caller.principal, playlist_id)
        if playlist.track_ids:
            everything = set(range(len(playlist.track_ids)))
            await service.remove_positions(caller.principal, playlist_id, everything)
    else:
        body = validate(PlaylistIn, {"name": params.required("name")})  # cleaned as on /api/v1
        created = await service.store.create(
            user_id=caller.user.id, name=body.name, description=None, is_public=False
        )
        playlist_id = created.id
    if song_ids:
        await service.add(caller.principal, playlist_id, song_ids, None, allow_duplicates=True)
    return {"playlist": await _full(request, caller, playlist_id)}


async def update_playlist(request: web.Request, params: Params, caller: Caller | None) -> None:
    assert caller is not None
    service = request.app[keys.PLAYLISTS]
    playlist_id = params.required("playlistId")
    await service.editable(caller.principal, playlist_id)
    patch: dict[str, Any] = {}
    if params.get("name"):
        patch["name"] = params.get("name")
    if params.get("comment") is not None:
        patch["description"] = params.get("comment") or None
    if params.get("public") is not None:
        patch["is_public"] = params.flag("public")
    # The same validated record as PATCH /api/v1/playlists/{id}: cleaned and capped alike.
    await service.change_details(playlist_id, validate(PlaylistPatch, patch))
    raw = params.all("songIndexToRemove")
    if any(not i.isdigit() for i in raw):
        raise Generic("songIndexToRemove must be a position (0 and up).")
    if raw:
        await service.remove_positions(caller.principal, playlist_id, {int(i) for i in raw})
    added = params.all("songIdToAdd")
    if added:
        await service.add(caller.principal, playlist_id, added, None, allow_duplicates=True)


async def delete_playlist(request: web.Request, params: Params, caller: Caller | None) -> None:
    assert caller is not None
    service = request.app[keys.PLAYLISTS]
    playlist_id = params.required("id")
    if not caller.user.is_admin:
        await service.editable(caller.principal, playlist_id)
    await service.store.delete(playlist_id)
