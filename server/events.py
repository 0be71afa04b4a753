"""The server's event bus: publishes typed events to in-process subscribers and on to Socket.IO.

Stores and services publish here and never know who listens. ``server.realtime`` subscribes the
Socket.IO fan-out; other parts (the search index) subscribe their own callbacks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

import structlog

from media.events import EventName

log = structlog.get_logger("harmonystream.events")

Subscriber = Callable[[EventName, dict, "str | None"], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[EventName | None, list[Subscriber]] = defaultdict(list)

    def subscribe(self, callback: Subscriber, event: EventName | None = None) -> None:
        """Call ``callback(event, payload, user_id)`` for ``event`` (or for every event when None)."""
        self._subscribers[event].append(callback)

    async def publish(self, event: EventName, payload: dict, *, user_id: str | None = None) -> None:
        for callback in (*self._subscribers[event], *self._subscribers[None]):
            try:
                await callback(event, payload, user_id)
            except Exception:
                # One broken listener must not fail the write that published the event.
                log.exception("subscriber_failed", event_name=event)
