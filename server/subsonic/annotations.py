"""Annotation: ``star``, ``unstar``, ``getStarred``/``getStarred2``, ``setRating``, ``scrobble``;
and the play queue: ``getPlayQueue``, ``savePlayQueue``.

Stars and ratings are per user, in ``annotations`` ({_id: "<user>:<item>", user_id, item_id, kind:
song|album|artist, starred_at | None, rating | None}). ``scrobble`` with ``submission=false`` is
"now playing": the app's device becomes the one playing, as a play from the web player would; with
``submission=true`` the play counts by the server's own rule. The play queue is the user's playback
state (what plays, where it stopped), shared with the web player and Socket.IO, plus the list of
songs the app saved, so an app resumes where the browser stopped and the reverse.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from server import keys
from server.documents import utcnow
from server.errors import NotFound as Hidden
from server.playback.queues import SavedQueue
from server.playback.service import PlaybackRequest
from server.subsonic.auth import Caller
from server.subsonic.browsing import album_element, songs
from server.subsonic.protocol import Generic, MissingParameter, NotFound, Params
from server.timestamps import iso

MAX_QUEUE = 1000
MAX_TIME_MS = 253_402_300_799_000
_DEVICE_CHARS = re.compile(r"[^A-Za-z0-9._:-]")


def app_device(params: Params) -> str:
    """The device id of a Subsonic app: ``app:`` and its client name (``c``), in the id alphabet."""
    name = _DEVICE_CHARS.sub("-", params.get("c") or "subsonic")[:56]
    return f"app:{name}"


async def _kind_of(request: web.Request, caller: Caller, item_id: str, kind: str | None = None) -> str:
    """What ``item_id`` is (``kind`` when the client named it): a song the caller may see, an album or
    an artist. Anything else - a hidden track included, exactly as a missing one - is code 70, so an
    annotation is only ever stored for something that exists."""
    catalog = request.app[keys.CATALOG]
    if kind is None:
        try:
            await catalog.visible_track(caller.principal, item_id)
            return "song"
        except Hidden:
            pass  # no track this caller may see: perhaps an album or an artist
    if kind in (None, "album") and await catalog.find_album(item_id) is not None:
        return "album"
    if kind in (None, "artist") and await catalog.find_artist(item_id) is not None:
        return "artist"
    raise NotFound("The requested data was not found.")


async def _annotate(request: web.Request, params: Params, caller: Caller, changes: dict[str, Any]) -> None:
    named = [
        *((i, None) for i in params.all("id")),
        *((i, "album") for i in params.all("albumId")),
        *((i, "artist") for i in params.all("artistId")),
    ]
    if not named:
        raise MissingParameter("Required parameter is missing: id, albumId or artistId.")
    store = request.app[keys.ANNOTATIONS]
    for item_id, kind in named:
        await store.set(caller.user.id, item_id, await _kind_of(request, caller, item_id, kind), changes)


async def star(request: web.Request, params: Params, caller: Caller | None) -> None:
    assert caller is not None
    await _annotate(request, params, caller, {"starred_at": utcnow()})


async def unstar(request: web.Request, params: Params, caller: Caller | None) -> None:
    assert caller is not None
    await _annotate(request, params, caller, {"starred_at": None})


async def set_rating(request: web.Request, params: Params, caller: Caller | None) -> None:
    assert caller is not None
    rating = params.integer("rating", high=5)
    if rating is None:
        raise MissingParameter("Required parameter is missing: rating.")
    item_id = params.required("id")
    await request.app[keys.ANNOTATIONS].set(
        caller.user.id, item_id, await _kind_of(request, caller, item_id), {"rating": rating or None}
    )


async def get_starred2(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    return {"starred2": await _starred(request, caller)}


async def get_starred(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    return {"starred": await _starred(request, caller)}


async def _starred(request: web.Request, caller: Caller) -> dict[str, Any]:
    catalog = request.app[keys.CATALOG]
    marks = await request.app[keys.ANNOTATIONS].starred(caller.user.id)
    when = {m.item_id: iso(m.starred_at) for m in marks if m.starred_at}
    ids = {kind: [m.item_id for m in marks if m.kind == kind] for kind in ("song", "album", "artist")}
    tracks = await catalog.tracks_in_order(ids["song"], caller.principal)
    song_list = [{**s, "starred": when[s["id"]]} for s in await songs(request, caller, tracks)]
    found_albums = await catalog.albums_by_id(ids["album"])
    albums = await catalog.album_views([found_albums[i] for i in ids["album"] if i in found_albums])
    found_artists = await catalog.artists_by_id(ids["artist"])
    artists = [found_artists[i] for i in ids["artist"] if i in found_artists]
    return {
        "artist": [{"id": a.id, "name": a.name, "starred": when[a.id]} for a in artists],
        "album": [{**album_element(a, []), "starred": when[a.id]} for a in albums],
        "song": song_list,
    }


async def scrobble(request: web.Request, params: Params, caller: Caller | None) -> None:
    assert caller is not None
    playback = request.app[keys.PLAYBACK]
    device = app_device(params)
    track_id = params.required("id")
    await request.app[keys.CATALOG].visible_track(caller.principal, track_id)
    if not params.flag("submission", True):
        await playback.execute(
            caller.user.id, PlaybackRequest(action="play", track_id=track_id, device_id=device)
        )
        return
    # Milliseconds since 1970, up to the year 9999 (what a datetime holds).
    millis = params.integer("time", high=MAX_TIME_MS)
    played_at = datetime.fromtimestamp(millis / 1000, UTC).replace(tzinfo=None) if millis else None
    await playback.scrobble(caller.user.id, track_id, device, played_at)


async def get_play_queue(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    state = await request.app[keys.PLAYBACK].state(caller.user.id)
    saved = await request.app[keys.PLAY_QUEUES].get(caller.user.id)
    ids = saved.ids
    current = state["track_id"]
    if current and current not in ids:
        ids = [current]  # the browser moved on to something else: that is the queue now
    visible = await catalog.tracks_in_order(ids, caller.principal)
    if not visible and not current:
        return {}
    return {
        "playQueue": {
            "current": current,
            "position": state["position_ms"],
            "username": caller.user.username,
            "changed": state["updated_at"],
            "changedBy": state["device_id"] or saved.client or "",
            "entry": await songs(request, caller, visible),
        }
    }


async def save_play_queue(request: web.Request, params: Params, caller: Caller | None) -> None:
    assert caller is not None
    ids = params.all("id")[:MAX_QUEUE]
    current = params.get("current") or (ids[0] if ids else None)
    position = params.integer("position", 0) or 0
    if current and current not in ids:
        raise Generic("current must be one of the ids.")
    await request.app[keys.PLAY_QUEUES].save(caller.user.id, SavedQueue(ids, params.get("c")))
    if current:
        await request.app[keys.CATALOG].visible_track(caller.principal, current)
        await request.app[keys.PLAYBACK].cue(caller.user.id, current, position, app_device(params))
