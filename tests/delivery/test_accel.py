"""X-Accel-Redirect offload: the server authorises, nginx (deploy/nginx.conf itself) sends the file."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server import keys
from server.app import create_app
from server.settings import Settings
from tests.delivery.conftest import Installed, Source, install, segment_cache, served
from tests.delivery.nginx import deploy_config, run_nginx, wait_for_port
from tests.services import free_port

ACCEL = "/internal-media"


@pytest.fixture
async def accel_client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(replace(settings, accel_redirect=ACCEL)))


@pytest.fixture
async def accel_track(accel_client: TestClient, source: Source) -> Installed:
    return await install(accel_client.app, source)


async def test_server_answers_with_a_redirect_header_only(
    accel_client: TestClient, accel_track: Installed
) -> None:
    tid = accel_track.id
    token = accel_client.app[keys.DELIVERY].signer.sign(tid, "user1").token
    resp = await accel_client.get(f"/hls/{token}/{tid}/64k/seg_00000.m4s")
    assert resp.status == 200
    assert await resp.read() == b""
    assert resp.headers["X-Accel-Redirect"] == f"{ACCEL}/hls/{tid}/64k/seg_00000.m4s"
    assert resp.headers["Content-Type"] == "audio/mp4"
    assert segment_cache(resp.headers["Cache-Control"])
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    resp = await accel_client.get(f"/media/{token}/{tid}/original")
    assert resp.headers["X-Accel-Redirect"] == f"{ACCEL}/originals/{tid}/original.flac"
    # Authorisation and path checks still happen before any redirect.
    resp = await accel_client.get(f"/hls/{token}x/{tid}/64k/seg_00000.m4s")
    assert resp.status == 403
    assert "X-Accel-Redirect" not in resp.headers
    resp = await accel_client.get(f"/hls/{token}/{tid}/64k/%2e%2e/%2e%2e/seg.m4s")
    assert resp.status == 404
    assert "X-Accel-Redirect" not in resp.headers


async def test_nginx_in_front_serves_what_the_server_authorised(
    accel_client: TestClient, accel_track: Installed
) -> None:
    tid = accel_track.id
    media_dir = accel_client.app[keys.SETTINGS].media_dir
    token = accel_client.app[keys.DELIVERY].signer.sign(tid, "user1").token
    port = free_port()
    segment = (accel_track.hls / "64k" / "seg_00001.m4s").read_bytes()
    playlist = (accel_track.hls / "64k" / "index.m3u8").read_bytes()

    def config(prefix: Path) -> str:
        # HLS through the server too (the offload location off): X-Accel-Redirect for every file kind.
        # tests/delivery/test_offload.py covers the config's HLS location as shipped.
        return deploy_config(
            prefix,
            app_port=accel_client.server.port,
            listen_port=port,
            media_dir=media_dir,
            hls_offload=False,
        )

    base = f"http://127.0.0.1:{port}"
    with run_nginx(config):
        wait_for_port(port)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/hls/{token}/{tid}/64k/seg_00001.m4s") as resp:
                assert resp.status == 200
                assert await resp.read() == segment
                assert resp.headers["Content-Type"] == "audio/mp4"
                assert segment_cache(resp.headers["Cache-Control"])
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
                assert "Content-Range" in resp.headers["Access-Control-Expose-Headers"]
                assert "ETag" in resp.headers and "X-Accel-Redirect" not in resp.headers
            async with http.get(
                f"{base}/hls/{token}/{tid}/64k/seg_00001.m4s", headers={"Range": "bytes=-100"}
            ) as resp:
                assert resp.status == 206
                assert (
                    resp.headers["Content-Range"]
                    == f"bytes {len(segment) - 100}-{len(segment) - 1}/{len(segment)}"
                )
                assert await resp.read() == segment[-100:]
            headers = {"Accept-Encoding": "gzip"}
            async with http.get(
                f"{base}/hls/{token}/{tid}/64k/index.m3u8", headers=headers, auto_decompress=False
            ) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
                assert resp.headers["Content-Encoding"] == "gzip"
                assert resp.headers["Cache-Control"] == "public, max-age=60"
                assert gzip.decompress(await resp.read()) == playlist
            async with http.get(
                f"{base}/media/{token}/{tid}/original", headers={"Range": "bytes=0-3"}
            ) as resp:
                assert resp.status == 206
                assert resp.headers["Content-Type"] == "audio/flac"
                assert await resp.read() == b"fLaC"
            async with http.get(f"{base}/hls/{token}x/{tid}/64k/seg_00001.m4s") as resp:
                assert resp.status == 403
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
            # The internal location is not reachable from outside.
            async with http.get(f"{base}{ACCEL}/hls/{tid}/64k/seg_00001.m4s") as resp:
                assert resp.status == 404
            # Ordinary API traffic is proxied too.
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
    # Every HLS request above was authorised by the server and sent by nginx from its redirect.
    assert served(accel_client, "/hls/{token}/{track_id}/{path}") == 4
    assert served(accel_client, "/hls-auth/{token}/{track_id}") == 0
