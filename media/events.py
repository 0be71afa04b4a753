"""Every event the system publishes, by name, with one typed payload each.

Shared by the server, the transcoder worker and the tests (the worker cannot import ``server``).
Names match the Socket.IO events of API.md.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict


class PlaybackPayload(TypedDict):
    track_id: str | None
    position_ms: int
    is_playing: bool
    device_id: str | None
    updated_at: str | None
    """None only before the user's first command."""


class TrackPayload(TypedDict):
    id: str
    status: Literal["processing", "ready", "failed"]
    progress: int
    error: str | None


class LibraryPayload(TypedDict):
    kind: Literal["artist", "album", "track", "playlist", "user"]
    id: str
    action: Literal["created", "updated", "deleted"]


EventName = Literal["playback", "track", "library"]
PLAYBACK: EventName = "playback"
TRACK: EventName = "track"
LIBRARY: EventName = "library"


class EventPublisher(Protocol):
    """Where events go. ``user_id`` addresses one user's devices; None means everyone."""

    async def publish(
        self, event: EventName, payload: dict[str, Any], *, user_id: str | None = None
    ) -> None: ...


SOCKETIO_CHANNEL_SUFFIX = "socketio"
"""The Socket.IO Redis channel is ``settings.redis_prefix + SOCKETIO_CHANNEL_SUFFIX``; servers listen on it
and workers emit on it (``socketio.AsyncRedisManager(url, write_only=True, channel=...)``)."""


# Socket.IO events of one connection (not published on the bus: they address one device or one socket).
PLAYBACK_COMMAND = "playback:command"
"""Client → server: ``PlaybackCommand``. Server → the targeted device: ``DeviceCommandPayload``."""
ERROR = "error"
"""Server → the one socket whose command failed: ``ErrorPayload``."""


class PlaybackCommand(TypedDict, total=False):
    action: Literal["play", "pause", "resume", "seek", "stop"]
    track_id: str
    position_ms: int
    target_device_id: str
    command_id: str


class DeviceCommandPayload(TypedDict):
    action: Literal["play", "pause", "resume", "seek", "stop"]
    track_id: str | None
    position_ms: int | None
    from_device_id: str
    state: PlaybackPayload


class ErrorPayload(TypedDict):
    code: str
    message: str
    details: dict[str, Any]
