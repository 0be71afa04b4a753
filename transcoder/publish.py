"""Event publishers for a worker running in its own process.

In-process workers publish on the server's event bus (``server/events.py``, same ``publish``
signature). A separate ``harmonystream worker`` has no Socket.IO server of its own: it emits through
python-socketio's Redis manager in write-only mode, on the channel every ``serve`` listens on, and
those servers deliver to the connected clients.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from media.events import SOCKETIO_CHANNEL_SUFFIX, EventName

log = structlog.get_logger("harmonystream.transcoder")
EMIT_TIMEOUT = 1.0


def socketio_channel(redis_prefix: str) -> str:
    """The Redis pub/sub channel the Socket.IO servers of one deployment share."""
    return redis_prefix + SOCKETIO_CHANNEL_SUFFIX


class SocketIOPublisher:
    """``EventPublisher`` that emits to Socket.IO rooms through Redis; ``user_id`` is the room."""

    def __init__(self, redis_url: str, redis_prefix: str) -> None:
        # Imported here: python-socketio pulls in aiohttp's client modules, and the worker modules that
        # merely type against a publisher must stay free of aiohttp.
        import socketio

        self._manager: Any = socketio.AsyncRedisManager(
            redis_url,
            write_only=True,
            channel=socketio_channel(redis_prefix),
            # Write-only: nothing blocks on a subscription, so every call may be bounded.
            redis_options={"socket_timeout": EMIT_TIMEOUT, "socket_connect_timeout": EMIT_TIMEOUT},
        )

    async def publish(self, event: EventName, payload: dict, *, user_id: str | None = None) -> None:
        """Emit, within :data:`EMIT_TIMEOUT`: an event is never worth holding a job slot for."""
        await asyncio.wait_for(self._manager.emit(event, payload, room=user_id, namespace="/"), EMIT_TIMEOUT)

    async def close(self) -> None:
        redis = getattr(self._manager, "redis", None)
        if redis is not None:
            await redis.aclose()


class NullPublisher:
    """Publishes nothing (a worker without anyone to tell, e.g. in a benchmark)."""

    async def publish(self, event: EventName, payload: dict, *, user_id: str | None = None) -> None:
        return None
