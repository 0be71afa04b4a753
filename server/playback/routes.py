"""``/api/v1/playback`` (play, pause, resume, seek, stop, state) and ``/api/v1/me/history``.

Commands without a body (pause, resume, stop) take an optional ``Idempotency-Key`` header; the
others may also send ``command_id`` in the body. Either makes a retried command harmless.
"""

from __future__ import annotations

import re
from datetime import UTC

from aiohttp import web

from server import keys
from server.api import SIGNED_IN, Api
from server.errors import Invalid
from server.playback.schemas import (
    COMMAND_ID,
    HistoryItem,
    HistoryPage,
    HistoryQuery,
    PlaybackOut,
    PlayIn,
    SeekIn,
)
from server.playback.service import PlaybackRequest
from server.playback.state import Action

api = Api("/api/v1")
_COMMAND_ID = re.compile(COMMAND_ID)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _COMMAND_ID.match(key):
        raise Invalid(details={"fields": {"Idempotency-Key": "1-64 of A-Z a-z 0-9 _ -"}})
    return key


async def _run(request: web.Request, req: PlaybackRequest) -> PlaybackOut:
    applied = await request.app[keys.PLAYBACK].execute(request[keys.PRINCIPAL].user_id, req)
    return PlaybackOut.model_validate(applied.state)


async def _bare(request: web.Request, action: Action) -> PlaybackOut:
    return await _run(request, PlaybackRequest(action=action, command_id=_idempotency_key(request)))


@api.route("GET", "/playback", roles=SIGNED_IN, response=PlaybackOut, tags=["playback"])
async def get_playback(request: web.Request) -> PlaybackOut:
    """Your playback state; ``position_ms`` is current at the time of the answer."""
    user_id = request[keys.PRINCIPAL].user_id
    hub = request.app[keys.REALTIME]
    state = await request.app[keys.PLAYBACK].state(user_id, present=lambda d: hub.present(user_id, d))
    return PlaybackOut.model_validate(state)


@api.route("POST", "/playback/play", roles=SIGNED_IN, body=PlayIn, response=PlaybackOut, tags=["playback"])
async def play(request: web.Request, body: PlayIn) -> PlaybackOut:
    """Play a ready track from ``position_ms`` on ``device_id`` (omitted: the active device)."""
    return await _run(
        request,
        PlaybackRequest(
            action="play",
            track_id=body.track_id,
            position_ms=body.position_ms,
            device_id=body.device_id,
            command_id=body.command_id or _idempotency_key(request),
        ),
    )


@api.route("POST", "/playback/pause", roles=SIGNED_IN, response=PlaybackOut, tags=["playback"])
async def pause(request: web.Request) -> PlaybackOut:
    """Pause; 409 when nothing is loaded."""
    return await _bare(request, "pause")


@api.route("POST", "/playback/resume", roles=SIGNED_IN, response=PlaybackOut, tags=["playback"])
async def resume(request: web.Request) -> PlaybackOut:
    """Resume on the active device; 409 when nothing is loaded."""
    return await _bare(request, "resume")


@api.route("POST", "/playback/seek", roles=SIGNED_IN, body=SeekIn, response=PlaybackOut, tags=["playback"])
async def seek(request: web.Request, body: SeekIn) -> PlaybackOut:
    """Move to ``position_ms`` (0 to the track's duration); 409 when nothing is loaded."""
    return await _run(
        request,
        PlaybackRequest(
            action="seek",
            position_ms=body.position_ms,
            command_id=body.command_id or _idempotency_key(request),
        ),
    )


@api.route("POST", "/playback/stop", roles=SIGNED_IN, response=PlaybackOut, tags=["playback"])
async def stop(request: web.Request) -> PlaybackOut:
    """Unload the track; the listen ends. Stopping when nothing is loaded is not an error."""
    return await _bare(request, "stop")


@api.route("GET", "/me/history", roles=SIGNED_IN, query=HistoryQuery, response=HistoryPage, tags=["playback"])
async def history(request: web.Request, query: HistoryQuery) -> HistoryPage:
    """Your listens, newest first, each with how long it was heard."""
    before = query.before
    if before is not None and before.tzinfo is not None:
        before = before.astimezone(UTC).replace(tzinfo=None)
    listens = await request.app[keys.HISTORY].recent(
        request[keys.PRINCIPAL].user_id, limit=query.limit, before=before
    )
    items = [HistoryItem.of(listen) for listen in listens]
    return HistoryPage(items=items, next_before=items[-1].played_at if len(items) == query.limit else None)
