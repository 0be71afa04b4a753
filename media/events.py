"""Every event the system publishes, by name, with one typed payload each.

Shared by the server, the transcoder worker and the tests (the worker cannot import ``server``).
Names match the Socket.IO events of API.md.
"""

from __future__ import annotations

from typing import Literal, Protocol, TypedDict


class PlaybackPayload(TypedDict):
    track_id: str | None
    position_ms: int
    is_playing: bool
    device_id: str | None
    updated_at: str


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

    async def publish(self, event: EventName, payload: dict, *, user_id: str | None = None) -> None: ...
