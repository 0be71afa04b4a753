"""``/rest/<method>`` and ``/rest/<method>.view``, GET and form POST: the Subsonic API's front door.

Each method is a handler in :data:`METHODS`; the front door parses the parameters, signs the caller
in (:mod:`server.subsonic.auth`) unless the method is open, and turns every failure into the
protocol's error answer: HTTP 200 with a code, never an HTML page or a stack trace. A database or
Redis that is down is the one exception: 503 with Retry-After (clients retry), still in the
protocol's shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from server import keys
from server.documents import MONGO_DOWN, REDIS_DOWN
from server.errors import AppError, PreconditionFailed, RangeNotSatisfiable, RateLimited, subsonic_code
from server.middleware.client_ip import client_ip
from server.subsonic import annotations, browsing, lists, media, playlists, searching, system
from server.subsonic.auth import Caller, authenticate
from server.subsonic.protocol import (
    Generic,
    NotAuthorized,
    NotFound,
    Params,
    SubsonicError,
    respond,
    respond_error,
)

log = structlog.get_logger("harmonystream.subsonic")

Handler = Callable[
    [web.Request, Params, Caller | None], Awaitable[dict[str, Any] | web.StreamResponse | None]
]


@dataclass(frozen=True, slots=True)
class Method:
    handler: Handler
    open: bool = False
    """Answered without signing in (``getOpenSubsonicExtensions``, as the extension says)."""
    admin: bool = False
    media: bool = False
    """Sends a file: not under the API rate limit, as media URLs are not (an app fetching every
    cover of a library it syncs must not be cut off)."""


METHODS: dict[str, Method] = {
    "ping": Method(system.ping),
    "getLicense": Method(system.get_license),
    "getOpenSubsonicExtensions": Method(system.get_extensions, open=True),
    "getUser": Method(system.get_user),
    "getMusicFolders": Method(system.get_music_folders),
    "startScan": Method(system.start_scan, admin=True),
    "getScanStatus": Method(system.get_scan_status, admin=True),
    "getArtists": Method(browsing.get_artists),
    "getArtist": Method(browsing.get_artist),
    "getAlbum": Method(browsing.get_album),
    "getSong": Method(browsing.get_song),
    "search3": Method(searching.search3),
    "search2": Method(searching.search3),
    "stream": Method(media.stream, media=True),
    "download": Method(media.download, media=True),
    "getCoverArt": Method(media.get_cover_art, media=True),
    "hls.m3u8": Method(media.hls_playlist, media=True),
    "getPlaylists": Method(playlists.get_playlists),
    "getPlaylist": Method(playlists.get_playlist),
    "createPlaylist": Method(playlists.create_playlist),
    "updatePlaylist": Method(playlists.update_playlist),
    "deletePlaylist": Method(playlists.delete_playlist),
    "star": Method(annotations.star),
    "unstar": Method(annotations.unstar),
    "setRating": Method(annotations.set_rating),
    "getStarred": Method(annotations.get_starred),
    "getStarred2": Method(annotations.get_starred2),
    "scrobble": Method(annotations.scrobble),
    "getPlayQueue": Method(annotations.get_play_queue),
    "getAlbumList": Method(lists.get_album_list),
    "getAlbumList2": Method(lists.get_album_list2),
    "getRandomSongs": Method(lists.get_random_songs),
    "getGenres": Method(lists.get_genres),
    "getSongsByGenre": Method(lists.get_songs_by_genre),
    "getTopSongs": Method(lists.get_top_songs),
    "getSimilarSongs2": Method(lists.get_similar_songs2),
    "getArtistInfo2": Method(lists.get_artist_info2),
    "getAlbumInfo2": Method(lists.get_album_info2),
    "getIndexes": Method(lists.get_indexes),
    "getMusicDirectory": Method(lists.get_music_directory),
    "getNowPlaying": Method(lists.get_now_playing),
    "getLyricsBySongId": Method(lists.get_lyrics_by_song_id),
    "savePlayQueue": Method(annotations.save_play_queue),
}


def setup_subsonic(app: web.Application) -> None:
    for method in ("GET", "POST"):
        app.router.add_route(method, "/rest/{method}", _front_door)


async def _front_door(request: web.Request) -> web.StreamResponse:
    version = request.app[keys.SERVER_VERSION]
    name = request.match_info["method"].removesuffix(".view")
    try:
        params = await Params.of(request)
    except (ValueError, web.HTTPException):
        # A form body that cannot be read (malformed, too large): answered in the query's format.
        params = Params({k: [v] for k, v in request.query.items()})
        return respond_error(params, version, Generic("The form body could not be read."))
    try:
        method = METHODS.get(name)
        if method is None:
            raise NotFound(f"Unknown method: {name}.")
        caller = None if method.open else await authenticate(request, params)
        if not method.media:
            await _count(request, caller)
        if method.admin and (caller is None or not caller.user.is_admin):
            raise NotAuthorized()
        answer = await method.handler(request, params, caller)
        if isinstance(answer, web.StreamResponse):
            return answer
        return respond(params, version, answer)
    except SubsonicError as exc:
        return respond_error(params, version, exc)
    except RateLimited as exc:
        # The envelope apps read, with the status and Retry-After that HTTP clients back off on.
        retry_after = exc.details["retry_after"]
        message = f"Too many requests; try again in {retry_after} s."
        response = respond_error(params, version, Generic(message))
        response.set_status(429)
        response.headers["Retry-After"] = str(retry_after)
        return response
    except (RangeNotSatisfiable, PreconditionFailed):
        raise  # the HTTP answer of a byte-range request (416, 412), as for any media URL
    except AppError as exc:
        return respond_error(params, version, _from_app_error(exc))
    except MONGO_DOWN + REDIS_DOWN:
        response = respond_error(params, version, Generic("A service the server needs is unavailable."))
        response.set_status(503)
        response.headers["Retry-After"] = "5"
        return response
    except Exception:
        log.exception("subsonic_failed", method=name)
        return respond_error(params, version, Generic("Something went wrong on our side."))


async def _count(request: web.Request, caller: Caller | None) -> None:
    """The Subsonic API limit (``HS_RATE_SUBSONIC_PER_CLIENT``): per signed-in user, else per client
    address. Sign-in attempts have their own, stricter limits (``authenticate``)."""
    settings = request.app[keys.SETTINGS]
    subject = f"u:{caller.user.id}" if caller else f"ip:{client_ip(request, settings)}"
    await request.app[keys.RATE_LIMITER].hit("subsonic", subject, settings.rate_limits.subsonic_per_client)


def _from_app_error(exc: AppError) -> SubsonicError:
    """A service's error as the protocol's: the code from ``server.errors.ERROR_TABLE`` (beside the HTTP
    status), and a bad request's field reasons in the message."""
    fields = exc.details.get("fields") or {}
    said = "; ".join(f"{name}: {why}" for name, why in fields.items())
    error = SubsonicError(f"{exc.message} {said}".strip() if said else exc.message)
    error.code = subsonic_code(type(exc))
    return error
