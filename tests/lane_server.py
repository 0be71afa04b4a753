"""aiohttp's TestServer, listening the way ``harmonystream serve`` listens: through the segment lane."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from yarl import URL

from server.delivery.lane import SegmentLane
from server.serving import LaneSite, segment_lane


class LaneTestServer(TestServer):
    lane: SegmentLane | None = None

    async def start_server(self, loop: Any = None, **kwargs: Any) -> None:
        if self.runner:
            return
        self.runner = await self._make_runner(handler_cancellation=True, **kwargs)
        await self.runner.setup()
        self.lane = segment_lane(self.app)
        site = LaneSite(self.runner, "127.0.0.1", 0, lane=self.lane)
        await site.start()
        self.host, self.port, self.scheme = "127.0.0.1", site.port, "http"
        self._root = URL(f"http://127.0.0.1:{self.port}")
