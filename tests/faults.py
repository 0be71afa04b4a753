"""A TCP proxy the tests put between the server and a dependency, to take it away and bring it back.

``cut()`` closes every connection through it and refuses new ones (the dependency is down);
``hang()`` accepts connections and forwards nothing (a dependency that accepts but never answers);
``restore()`` forwards again. Loopback only, in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultyProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._port = 0
        self._mode = "pass"
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> FaultyProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode == "cut":
            writer.close()
            return
        self._writers.add(writer)
        if self._mode == "hang":
            return  # held open, never answered
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()

    async def _drop_all(self) -> None:
        for task in list(self._pipes):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await asyncio.sleep(0)

    async def cut(self) -> None:
        """Down: existing connections are closed and new ones refused."""
        self._mode = "cut"
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._drop_all()
        if server is not None:
            await server.wait_closed()

    async def hang(self) -> None:
        """Up but silent: existing connections are closed, new ones are accepted and never answered."""
        await self._drop_all()
        self._mode = "hang"
        if self._server is None:
            await self.start()

    async def restore(self) -> None:
        """Forwarding again, on the same port."""
        await self._drop_all()
        self._mode = "pass"
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.cut()
