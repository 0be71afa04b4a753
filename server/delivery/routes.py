"""Media delivery routes.

- ``GET /api/v1/tracks/{id}/media`` → signed, absolute ``hls_url`` and ``stream_url`` for the caller;
- ``GET|HEAD /api/v1/tracks/{id}/stream`` → the original with byte ranges, for a signed-in caller;
- ``GET|HEAD|OPTIONS /hls/{token}/{track_id}/{path}`` → playlists, init and media segments;
- ``GET|HEAD|OPTIONS /media/{token}/{track_id}/original`` → the original with byte ranges;
- ``GET /hls-auth/{token}/{track_id}`` → 200/403 with no body, for nginx's ``auth_request`` (deploy/nginx.conf
  checks HLS tokens this way, caches the answer, and sends the files itself).

The signed routes never touch the database for HLS: the token is checked and the file is served. A
deleted track's files are gone, so its URLs answer 404; a track still transcoding has no playlist yet.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel

from server import keys
from server.api import ANYONE, SIGNED_IN, Api, iso
from server.delivery.service import CORS_HEADERS, PREFLIGHT_HEADERS
from server.errors import AppError, Conflict, NotFound

api = Api("/api/v1")
signed = Api()

HLS_PATH = "/hls/{token}/{track_id}/{path:.+}"
ORIGINAL_PATH = "/media/{token}/{track_id}/original"
AUTH_PATH = "/hls-auth/{token}/{track_id}"
_FILE_CONTENT = {"audio/*": "The file, or the requested byte ranges of it."}
_HLS_CONTENT = {
    "application/vnd.apple.mpegurl": "A master or media playlist.",
    "audio/mp4": "An init or media segment.",
}


class MediaUrlsOut(BaseModel):
    hls_url: str
    """Master playlist; every URI inside resolves relative to it."""
    stream_url: str
    """The original, with byte ranges."""
    expires_at: str


@api.route("GET", "/tracks/{id}/media", roles=SIGNED_IN, response=MediaUrlsOut, tags=["delivery"])
async def media_urls(request: web.Request) -> MediaUrlsOut:
    """Signed URLs a player without headers or cookies can play until ``expires_at``."""
    track = await request.app[keys.CATALOG].visible_track(request[keys.PRINCIPAL], request.match_info["id"])
    if not track.playable:
        code = "track_failed" if track.status == "failed" else "track_not_ready"
        raise Conflict(
            "This track cannot be played yet."
            if code == "track_not_ready"
            else "This track failed to process.",
            code=code,
            details={"status": track.status},
        )
    if track.on_play and keys.ONPLAY in request.app:
        await request.app[keys.ONPLAY].prepare(track)  # its playlists, before a player asks for them
    service = request.app[keys.DELIVERY]
    principal = request[keys.PRINCIPAL]
    urls = service.urls(request, track.id, principal.user_id, principal.login_id)
    return MediaUrlsOut(
        hls_url=urls.hls_url,
        stream_url=urls.stream_url,
        expires_at=iso(datetime.fromtimestamp(urls.expires_at, UTC)),
    )


@api.route("GET", "/tracks/{id}/stream", roles=SIGNED_IN, tags=["delivery"], response_content=_FILE_CONTENT)
async def stream_original(request: web.Request) -> web.StreamResponse:
    """The original file with byte ranges, for the signed-in caller (tracks they may see only)."""
    # The same visibility rule as GET /tracks/{id}: another artist's processing or failed track is 404.
    track = await request.app[keys.CATALOG].visible_track(request[keys.PRINCIPAL], request.match_info["id"])
    service = request.app[keys.DELIVERY]
    path = service.original_of(track)
    mime = track.original.mime if track.original else None
    return await service.answer(request, path, service.original_policy(path, signed=False, mime=mime))


@api.route("HEAD", "/tracks/{id}/stream", roles=SIGNED_IN, tags=["delivery"], response_content=_FILE_CONTENT)
async def stream_original_head(request: web.Request) -> web.StreamResponse:
    """Headers of the original (size, type, validators), for the signed-in caller."""
    return await stream_original(request)


@signed.route("GET", HLS_PATH, roles=ANYONE, tags=["delivery"], response_content=_HLS_CONTENT)
async def hls_file(request: web.Request) -> web.StreamResponse:
    """A playlist or segment of a track's HLS ladder, authorised by the token in the path."""
    service = request.app[keys.DELIVERY]
    info = request.match_info
    try:
        grant = service.authorise(info["token"], info["track_id"])
        path, policy = service.hls_path(info["track_id"], info["path"])
        try:
            return await service.answer(request, path, service.for_grant(policy, grant), grant=grant)
        except NotFound:
            # A segment of a ladder made on play that nobody asked for yet: made now, then served.
            ladders = request.app.get(keys.ONPLAY)
            if ladders is None or not await ladders.segment(info["track_id"], info["path"]):
                raise
            return await service.answer(request, path, service.for_grant(policy, grant), grant=grant)
    except AppError as exc:
        raise _with_cors(exc) from None


@signed.route("HEAD", HLS_PATH, roles=ANYONE, tags=["delivery"], response_content=_HLS_CONTENT)
async def hls_file_head(request: web.Request) -> web.StreamResponse:
    """Headers of a playlist or segment."""
    return await hls_file(request)


@signed.route("OPTIONS", HLS_PATH, roles=ANYONE, tags=["delivery"], bodiless=(204,))
async def hls_preflight(request: web.Request) -> web.Response:
    """CORS preflight: any origin may GET/HEAD media, sending Range and conditional headers."""
    return web.Response(status=204, headers=PREFLIGHT_HEADERS)


@signed.route("GET", AUTH_PATH, roles=ANYONE, tags=["delivery"], bodiless=(200, 403))
async def hls_auth(request: web.Request) -> web.Response:
    """200 when the token opens the track's HLS files, else 403; no body. For nginx's auth_request.

    ``X-Accel-Expires`` says how long the answer may be cached: never past the token's expiry.
    It tells nothing a token's holder could not learn by fetching the playlist.
    """
    info = request.match_info
    return request.app[keys.DELIVERY].auth_answer(info["token"], info["track_id"])


@signed.route("GET", ORIGINAL_PATH, roles=ANYONE, tags=["delivery"], response_content=_FILE_CONTENT)
async def signed_original(request: web.Request) -> web.StreamResponse:
    """The original file with byte ranges, authorised by the token in the path."""
    service = request.app[keys.DELIVERY]
    track_id = request.match_info["track_id"]
    try:
        grant = service.authorise(request.match_info["token"], track_id)
        path = await service.locate_original(track_id)
        mime = None
        if path is None:
            # Not an upload: a scanned file referenced in place, which only the catalog can name.
            track = await request.app[keys.TRACKS].get(track_id)
            path = service.original_of(track)
            mime = track.original.mime if track.original else None
        policy = service.for_grant(service.original_policy(path, signed=True, mime=mime), grant)
        return await service.answer(request, path, policy, grant=grant)
    except AppError as exc:
        raise _with_cors(exc) from None


@signed.route("HEAD", ORIGINAL_PATH, roles=ANYONE, tags=["delivery"], response_content=_FILE_CONTENT)
async def signed_original_head(request: web.Request) -> web.StreamResponse:
    """Headers of the original (size, type, validators)."""
    return await signed_original(request)


@signed.route("OPTIONS", ORIGINAL_PATH, roles=ANYONE, tags=["delivery"], bodiless=(204,))
async def original_preflight(request: web.Request) -> web.Response:
    """CORS preflight: any origin may GET/HEAD media, sending Range and conditional headers."""
    return web.Response(status=204, headers=PREFLIGHT_HEADERS)


def _with_cors(exc: AppError) -> AppError:
    """Error answers carry CORS too, or a web player could not even read their status."""
    exc.headers = {**CORS_HEADERS, **exc.headers}
    return exc
