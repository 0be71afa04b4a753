"""The server's event bus: publishes typed events to in-process subscribers and on to Socket.IO.

Stores and services publish here and never know who listens. ``server.realtime`` subscribes the
Socket.IO fan-out; other parts (the search index) subscribe their own callbacks.

Events are best effort and bounded: subscribers run concurrently, the publisher waits for them at most
:data:`PUBLISH_WAIT` seconds (normally they are done long before, so events keep their order), and a
subscriber that is still busy then (a Redis that accepts but never answers, say) goes on in the
background until :data:`SUBSCRIBER_DEADLINE`, when it is cancelled and logged. A request or a job
never waits longer than ``PUBLISH_WAIT`` for its events, whatever a dependency does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

import structlog

from media.events import EventName

log = structlog.get_logger("harmonystream.events")

Subscriber = Callable[[EventName, dict, "str | None"], Awaitable[None]]
PUBLISH_WAIT = 0.5
SUBSCRIBER_DEADLINE = 10.0


class EventBus:
    def __init__(self, *, wait: float = PUBLISH_WAIT, deadline: float = SUBSCRIBER_DEADLINE) -> None:
        self._subscribers: dict[EventName | None, list[Subscriber]] = defaultdict(list)
        self._wait = wait
        self._deadline = deadline
        self._pending: set[asyncio.Task[None]] = set()

    def subscribe(self, callback: Subscriber, event: EventName | None = None) -> None:
        """Call ``callback(event, payload, user_id)`` for ``event`` (or for every event when None)."""
        self._subscribers[event].append(callback)

    async def publish(self, event: EventName, payload: dict, *, user_id: str | None = None) -> None:
        callbacks = (*self._subscribers[event], *self._subscribers[None])
        if not callbacks:
            return
        tasks = [asyncio.create_task(self._deliver(cb, event, payload, user_id)) for cb in callbacks]
        _, late = await asyncio.wait(tasks, timeout=self._wait)
        for task in late:
            # Still running: it finishes (or meets its deadline) on its own; keep a reference until then.
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        if late:
            log.warning("event_delivery_slow", event_name=event, late=len(late))

    async def _deliver(
        self, callback: Subscriber, event: EventName, payload: dict, user_id: str | None
    ) -> None:
        try:
            await asyncio.wait_for(callback(event, payload, user_id), self._deadline)
        except TimeoutError:
            log.warning("subscriber_timed_out", event_name=event, seconds=self._deadline)
        except Exception:
            # One broken listener must not fail the write that published the event.
            log.exception("subscriber_failed", event_name=event)

    async def close(self) -> None:
        """Cancel deliveries still in flight (at shutdown)."""
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
