"""Running the app on a socket: ``aiohttp.web.run_app``'s job, with connections starting in the segment lane.

``run_app`` always makes aiohttp's own protocol for each connection. Here each connection starts in
:class:`server.delivery.lane.LaneProtocol`, which answers plain segment requests itself and hands
anything else to aiohttp's protocol (``runner.server``), so the app, its middleware and its shutdown
are exactly those of ``run_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from server import keys
from server.delivery.lane import KEEPALIVE_SECONDS, LaneProtocol, SegmentLane
from server.protocol_errors import handler_factory

BACKLOG = 4096
"""Thousands of players reconnecting at once must not overflow the accept queue (a dropped SYN costs
the client a 1 s retransmit); the kernel caps it at ``net.core.somaxconn``."""


class LaneSite(web.BaseSite):
    """A TCP site whose connections start in the segment lane (``lane=None``: plain aiohttp)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        lane: SegmentLane | None,
        backlog: int = BACKLOG,
        keepalive: float = KEEPALIVE_SECONDS,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._lane = lane
        self._reuse_port = reuse_port
        self._keepalive = keepalive
        self._connections: set[LaneProtocol] = set()

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        lane = self._lane
        # aiohttp's protocol, answering what its parser refuses in the API's error shape.
        handler = handler_factory(server)
        factory: Callable[[], asyncio.Protocol] = (
            handler
            if lane is None
            else lambda: LaneProtocol(lane, handler, self._connections, keepalive=self._keepalive)
        )
        self._server = await asyncio.get_running_loop().create_server(
            factory,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
        )

    async def stop(self) -> None:
        await super().stop()
        # Connections still in the lane are between requests (it never waits mid-answer): close them.
        for connection in list(self._connections):
            connection.close()


def segment_lane(app: web.Application) -> SegmentLane | None:
    """The app's lane, once its services are up; None when disabled or when nginx sends the files."""
    delivery = app[keys.DELIVERY]
    if not delivery.settings.segment_lane or delivery.offloads or delivery.remote:
        return None  # the lane reads local files: not with nginx sending them, nor from a bucket
    cache_bytes = delivery.settings.segment_cache_mb * 1024 * 1024
    return SegmentLane(delivery, app[keys.METRICS], cache_bytes=cache_bytes)


async def serve(
    app: web.Application, host: str, port: int, *, started: Callable[[int], None], reuse_port: bool = False
) -> None:
    """Run ``app`` until SIGINT/SIGTERM, then shut it down as ``run_app`` does.

    ``reuse_port``: bind with SO_REUSEPORT, beside the other processes of ``serve --workers``.
    """
    # Connections handed to aiohttp idle out like the lane's (run_app's default is the same 75 s).
    runner = web.AppRunner(app, handle_signals=True, access_log=None, keepalive_timeout=KEEPALIVE_SECONDS)
    await runner.setup()
    try:
        site = LaneSite(runner, host, port, lane=segment_lane(app), reuse_port=reuse_port)
        await site.start()
        started(site.port)
        await asyncio.Event().wait()  # until a signal raises GracefulExit here
    finally:
        await runner.cleanup()


def run(
    app: web.Application, host: str, port: int, *, started: Callable[[int], None], reuse_port: bool = False
) -> None:
    with contextlib.suppress(GracefulExit, KeyboardInterrupt):
        asyncio.run(serve(app, host, port, started=started, reuse_port=reuse_port))
