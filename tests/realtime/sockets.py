"""A real python-socketio client that records what it receives, for the real-time tests."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import socketio
from aiohttp.test_utils import TestClient


def server_url(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


class Device:
    """One connected device: every event it receives lands in a queue per event name."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queues: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.sio.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.queues[event].put_nowait(data)

    async def connect(
        self,
        url: str,
        *,
        token: str | None = None,
        device_id: str | None = None,
        headers: dict[str, str] | None = None,
        initial_state: bool = True,
    ) -> Device:
        auth: dict[str, str] = {}
        if token is not None:
            auth["token"] = token
        if device_id is not None:
            auth["device_id"] = device_id
        await self.sio.connect(
            url, auth=auth or None, headers=headers or {}, transports=["websocket"], wait_timeout=5
        )
        if initial_state:
            # Every connection is sent the current state first; tests start after it.
            await self.next("playback")
        return self

    async def next(self, event: str, wait: float = 5.0) -> Any:
        return await asyncio.wait_for(self.queues[event].get(), wait)

    async def nothing(self, event: str, within: float = 0.5) -> None:
        """Assert that no ``event`` arrives within ``within`` seconds."""
        await asyncio.sleep(within)
        assert self.queues[event].empty(), f"unexpected {event}: {self.queues[event].get_nowait()}"

    async def command(self, **command: Any) -> Any:
        """Send ``playback:command`` and return the server's acknowledgement."""
        return await self.sio.call("playback:command", command, timeout=5)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
