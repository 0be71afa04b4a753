"""A loopback TCP relay in front of the S3 server that can hold one process's requests back.

Each worker of a test reaches the bucket through a relay of its own. The relay watches the request
lines going through it; the first time one matches ``hold_on`` it stops relaying that process's
requests (the matching one included) and sets ``held``, until ``release()``. This freezes a worker at
an exact step of its work (here: its first upload into a ladder), which no timing could.
"""

from __future__ import annotations

import asyncio
import contextlib
import re


class Gate:
    def __init__(self, upstream_port: int, hold_on: re.Pattern[bytes]) -> None:
        self._upstream_port = upstream_port
        self._hold_on = hold_on
        self._open = asyncio.Event()
        self._open.set()
        self._armed = True
        self.held = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def disarm(self) -> None:
        """Never hold this process back (the other worker's relay, once one is held)."""
        self._armed = False

    def release(self) -> None:
        self._open.set()

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        tasks = {
            asyncio.create_task(self._pump(reader, up_writer, watch=True)),
            asyncio.create_task(self._pump(up_reader, writer, watch=False)),
        }
        self._tasks |= tasks
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            self._tasks -= tasks
            for w in (writer, up_writer):
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, watch: bool) -> None:
        while chunk := await reader.read(65536):
            if watch:
                if self._armed and self._hold_on.search(chunk):
                    self._armed = False
                    self._open.clear()
                    self.held.set()
                await self._open.wait()
            writer.write(chunk)
            await writer.drain()
