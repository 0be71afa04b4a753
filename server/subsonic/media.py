"""Media methods: ``stream``, ``download``, ``getCoverArt``.

``stream`` and ``download`` send the original with RFC 9110 byte ranges through the same delivery
code as ``/api/v1/tracks/{id}/stream`` (``format=raw`` is what every request gets for now; the ladder's
renditions are HLS segments, served through ``hls.m3u8``). Streaming never counts a play: only a
``scrobble`` with ``submission=true`` does.
"""

from __future__ import annotations

from aiohttp import web

from media.errors import UnsafePath
from server import keys
from server.subsonic.auth import Caller
from server.subsonic.protocol import NotFound, Params


async def stream(request: web.Request, params: Params, caller: Caller | None) -> web.StreamResponse:
    assert caller is not None
    track = await request.app[keys.CATALOG].visible_track(caller.principal, params.required("id"))
    service = request.app[keys.DELIVERY]
    path = service.original_of(track)
    mime = track.original.mime if track.original else None
    return await service.answer(request, path, service.original_policy(path, signed=False, mime=mime))


async def get_cover_art(request: web.Request, params: Params, caller: Caller | None) -> web.StreamResponse:
    """The cover of a track (album covers are named by one of their tracks' ids)."""
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(caller.principal, params.required("id"))
    if not track.cover:
        raise NotFound("This item has no cover art.")
    try:
        path = catalog.layout.resolve(track.cover)
    except UnsafePath as exc:
        raise NotFound("This item has no cover art.") from exc
    if not path.is_file():
        raise NotFound("This item has no cover art.")
    return web.FileResponse(
        path, headers={"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=3600"}
    )
