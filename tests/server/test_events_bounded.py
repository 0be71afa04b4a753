"""Events are best effort: a subscriber or a Redis that never answers holds no request and no job."""

from __future__ import annotations

import asyncio
import time

from server.events import EventBus
from tests.server.test_dependencies_down import silent_server as silent_server
from transcoder.publish import EMIT_TIMEOUT, SocketIOPublisher


async def test_a_hung_subscriber_holds_the_publisher_for_at_most_the_wait():
    bus = EventBus(wait=0.2, deadline=1.0)
    seen: list[str] = []
    release = asyncio.Event()

    async def hung(event, payload, user_id):
        await release.wait()

    async def quick(event, payload, user_id):
        seen.append(payload["id"])

    bus.subscribe(hung)
    bus.subscribe(quick, "library")
    started = time.monotonic()
    await bus.publish("library", {"id": "a"})
    assert time.monotonic() - started < 0.5
    assert seen == ["a"]  # the others were not held up by the hung one
    # The hung delivery is cancelled at its deadline, not left forever.
    await asyncio.sleep(1.2)
    assert not bus._pending
    await bus.close()


async def test_the_worker_publisher_gives_up_on_a_redis_that_never_answers(silent_server):
    publisher = SocketIOPublisher(f"redis://127.0.0.1:{silent_server}/0", "hstest:")
    started = time.monotonic()
    try:
        await publisher.publish("track", {"id": "x", "status": "ready", "progress": 100, "error": None})
    except (TimeoutError, OSError, ConnectionError):
        pass
    else:
        raise AssertionError("publishing to a silent Redis cannot succeed")
    finally:
        await publisher.close()
    assert time.monotonic() - started < EMIT_TIMEOUT + 1.5
