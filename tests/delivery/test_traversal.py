"""Paths from URLs never reach a file outside the media root, however they are spelled."""

from __future__ import annotations

import os

from aiohttp.test_utils import TestClient

from server import keys
from tests.delivery.conftest import Installed, raw_request

SECRET = b"outside-the-media-root"


async def test_traversal_attempts_never_reach_outside_files(client: TestClient, track: Installed) -> None:
    data_dir = client.app[keys.SETTINGS].data_dir
    (data_dir / "outside.m4s").write_bytes(SECRET)
    (data_dir / "outside.m3u8").write_bytes(SECRET)
    signer = client.app[keys.DELIVERY].signer
    token = signer.sign(track.id, "user1").token
    dots_token = signer.sign("..", "user1").token
    # Symlinks inside the root that point out of it: a file, and a whole rung directory.
    os.symlink(data_dir / "outside.m4s", track.hls / "64k" / "seg_99999.m4s")
    os.symlink(data_dir, track.hls / "escape")
    base = f"/hls/{token}/{track.id}"
    targets = [
        f"{base}/../../../outside.m4s",
        f"{base}/%2e%2e/%2e%2e/%2e%2e/outside.m4s",
        f"{base}/%2E%2E/%2E%2E/%2E%2E/outside.m3u8",
        f"{base}/..%2f..%2f..%2foutside.m4s",
        f"{base}/%252e%252e/%252e%252e/%252e%252e/outside.m4s",
        f"{base}/..%5c..%5c..%5coutside.m4s",
        f"{base}/.%2e/.%2e/.%2e/outside.m4s",
        f"{base}//{data_dir}/outside.m4s",
        f"{base}/%2f{str(data_dir)[1:]}/outside.m4s",
        f"{base}/64k/seg_99999.m4s",
        f"{base}/escape/outside.m4s",
        f"{base}/64k/%00.m4s",
        f"/hls/{dots_token}/%2e%2e/outside.m4s",
        f"/hls/{dots_token}/../outside.m4s",
        f"/media/{dots_token}/%2e%2e/original",
    ]
    host, port = client.server.host, client.server.port
    for target in targets:
        status, body = await raw_request(host, port, target)
        assert status in (400, 403, 404), (target, status)
        assert SECRET not in body, target
    # The same requests against a real file of the track still work (the checks are not blanket).
    status, body = await raw_request(host, port, f"{base}/64k/seg_00000.m4s")
    assert status == 200
    assert body == (track.hls / "64k" / "seg_00000.m4s").read_bytes()
