"""Media requests in the access log: served ones at debug level, refusals and failures at info."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from server import keys
from tests.delivery.conftest import Installed


async def test_served_media_logs_at_debug_refusals_at_info(client: TestClient, track: Installed) -> None:
    token = client.app[keys.DELIVERY].signer.sign(track.id, "user1").token
    with capture_logs() as logs:
        assert (await client.get(f"/hls/{token}/{track.id}/64k/seg_00000.m4s")).status == 200
        assert (await client.get(f"/hls-auth/{token}/{track.id}")).status == 200
        assert (await client.get(f"/hls/{token}x/{track.id}/64k/seg_00000.m4s")).status == 403
        assert (await client.get(f"/hls/{token}/{track.id}/64k/seg_99999.m4s")).status == 404
        assert (await client.get("/healthz")).status == 200
    levels = {(e["path"].split("/")[1], e["status"]): e["log_level"] for e in logs if e["event"] == "request"}
    assert levels == {
        ("hls", 200): "debug",
        ("hls-auth", 200): "debug",
        ("hls", 403): "info",
        ("hls", 404): "info",
        ("healthz", 200): "info",
    }
    # Every request has its id, 32 hex digits when the client sent none.
    ids = [e["request_id"] for e in logs if e["event"] == "request"]
    assert len(set(ids)) == 5 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
