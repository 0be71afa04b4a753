"""HLS offload through deploy/nginx.conf: nginx checks tokens with ``auth_request`` (cached) and sends files.

The server behind it counts every request it answers (its Prometheus counter), which shows what
reached Python and what nginx handled alone.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server import keys
from server.app import create_app
from server.delivery.service import AUTH_CACHE_MAX, AUTH_DENY_CACHE
from server.settings import Settings
from tests.delivery.conftest import Installed, Source, install, raw_request, segment_cache, served
from tests.delivery.nginx import deploy_config, run_nginx, wait_for_port
from tests.services import free_port

SEGMENT = "64k/seg_00001.m4s"


@pytest.fixture
async def app_client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(replace(settings, accel_redirect="/internal-media")))


@pytest.fixture
async def installed(app_client: TestClient, source: Source) -> Installed:
    return await install(app_client.app, source)


@contextmanager
def nginx_in_front(client: TestClient) -> Iterator[str]:
    port = free_port()
    media_dir = client.app[keys.SETTINGS].media_dir

    def config(prefix: Path) -> str:
        return deploy_config(prefix, app_port=client.server.port, listen_port=port, media_dir=media_dir)

    with run_nginx(config):
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"


def test_auth_answer_never_outlives_the_token(settings: Settings) -> None:
    from server.delivery.service import DeliveryService

    service = DeliveryService(settings)
    signed = service.signer.sign("track1", "user1", now=1_800_000_000)
    far = service.auth_answer(signed.token, "track1", now=1_800_000_000)
    assert far.status == 200
    assert far.headers["X-Accel-Expires"] == str(AUTH_CACHE_MAX)
    near = service.auth_answer(signed.token, "track1", now=signed.expires_at - 42.5)
    assert (near.status, near.headers["X-Accel-Expires"]) == (200, "42")
    for answer in (
        service.auth_answer(signed.token, "track1", now=signed.expires_at - 0.5),  # under one second left
        service.auth_answer(signed.token, "track1", now=signed.expires_at),
        service.auth_answer(signed.token, "track2", now=1_800_000_000),
        service.auth_answer("garbage", "track1", now=1_800_000_000),
    ):
        assert answer.status == 403
        assert answer.headers["X-Accel-Expires"] == str(AUTH_DENY_CACHE)
        assert answer.body is None


async def test_auth_route_answers_without_a_body(app_client: TestClient, installed: Installed) -> None:
    token = app_client.app[keys.DELIVERY].signer.sign(installed.id, "user1").token
    resp = await app_client.get(f"/hls-auth/{token}/{installed.id}")
    assert resp.status == 200
    assert await resp.read() == b""
    assert 0 < int(resp.headers["X-Accel-Expires"]) <= AUTH_CACHE_MAX
    resp = await app_client.get(f"/hls-auth/{token}/someothertrack")
    assert resp.status == 403
    assert await resp.read() == b""


async def test_nginx_sends_segments_after_one_check_per_token(
    app_client: TestClient, installed: Installed
) -> None:
    tid = installed.id
    token = app_client.app[keys.DELIVERY].signer.sign(tid, "user1").token
    segments = sorted(p.relative_to(installed.hls).as_posix() for p in installed.hls.glob("*/seg_*.m4s"))
    assert len(segments) >= 3
    with nginx_in_front(app_client) as base:
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                for name in segments:
                    async with http.get(f"{base}/hls/{token}/{tid}/{name}") as resp:
                        assert resp.status == 200, name
                        assert await resp.read() == (installed.hls / name).read_bytes()
                        assert resp.headers["Content-Type"] == "audio/mp4"
                        assert segment_cache(resp.headers["Cache-Control"])
                        assert resp.headers["Access-Control-Allow-Origin"] == "*"
                        assert "Content-Range" in resp.headers["Access-Control-Expose-Headers"]
                        assert "ETag" in resp.headers and "Last-Modified" in resp.headers
                        assert "Access-Control-Allow-Methods" not in resp.headers
            # One token check for all of them; no segment reached the server.
            assert served(app_client, "/hls-auth/{token}/{track_id}") == 1
            assert served(app_client, "/hls/{token}/{track_id}/{path}") == 0

            # A second listener (another token) is checked once too.
            other = app_client.app[keys.DELIVERY].signer.sign(tid, "user2").token
            async with http.get(f"{base}/hls/{other}/{tid}/{SEGMENT}") as resp:
                assert resp.status == 200
            assert served(app_client, "/hls-auth/{token}/{track_id}") == 2
    # The counter does see segments the server sends itself.
    assert (await app_client.get(f"/hls/{token}/{tid}/{SEGMENT}")).status == 200
    assert served(app_client, "/hls/{token}/{track_id}/{path}") == 1


async def test_nginx_keeps_the_servers_headers_ranges_and_gzip(
    app_client: TestClient, installed: Installed
) -> None:
    tid = installed.id
    token = app_client.app[keys.DELIVERY].signer.sign(tid, "user1").token
    segment = (installed.hls / SEGMENT).read_bytes()
    playlist = (installed.hls / "64k" / "index.m3u8").read_bytes()
    with nginx_in_front(app_client) as base:
        async with aiohttp.ClientSession() as http:
            url = f"{base}/hls/{token}/{tid}/{SEGMENT}"
            async with http.get(url, headers={"Range": "bytes=10-19"}) as resp:
                assert resp.status == 206
                assert resp.headers["Content-Range"] == f"bytes 10-19/{len(segment)}"
                assert await resp.read() == segment[10:20]
                etag = resp.headers["ETag"]
            async with http.get(url, headers={"If-None-Match": etag}) as resp:
                assert resp.status == 304
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
            async with http.get(url, headers={"Range": f"bytes={len(segment)}-"}) as resp:
                assert resp.status == 416
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
            async with http.head(url) as resp:
                assert resp.status == 200
                assert int(resp.headers["Content-Length"]) == len(segment)
            async with http.get(f"{base}/hls/{token}/{tid}/64k/init.mp4") as resp:
                assert resp.headers["Content-Type"] == "audio/mp4"
                assert segment_cache(resp.headers["Cache-Control"])
            async with http.get(
                f"{base}/hls/{token}/{tid}/64k/index.m3u8",
                headers={"Accept-Encoding": "gzip"},
                auto_decompress=False,
            ) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
                assert resp.headers["Content-Encoding"] == "gzip"
                assert resp.headers["Vary"] == "Accept-Encoding"
                assert resp.headers["Cache-Control"] == "public, max-age=60"
                assert gzip.decompress(await resp.read()) == playlist
            async with http.get(f"{base}/hls/{token}/{tid}/master.m3u8") as resp:
                assert resp.status == 200
                assert await resp.read() == (installed.hls / "master.m3u8").read_bytes()
            async with http.options(
                url,
                headers={
                    "Origin": "https://player.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "range",
                },
            ) as resp:
                assert resp.status == 204
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
                assert "HEAD" in resp.headers["Access-Control-Allow-Methods"]
                assert "range" in resp.headers["Access-Control-Allow-Headers"].lower()
                assert resp.headers["Access-Control-Max-Age"] == "86400"
    assert served(app_client, "/hls/{token}/{track_id}/{path}") == 0


async def test_refusals_and_missing_files_come_from_the_server(
    app_client: TestClient, source: Source, installed: Installed
) -> None:
    signer = app_client.app[keys.DELIVERY].signer
    tid = installed.id
    second = await install(app_client.app, source)
    token = signer.sign(tid, "user1").token
    user_id, expires, mac = token.split(".")
    expired = signer.sign(tid, "user1", now=time.time() - signer.ttl - 600).token
    with nginx_in_front(app_client) as base:
        async with aiohttp.ClientSession() as http:
            # Allowed first, so a cached "yes" for this token exists when it is tried on another track.
            async with http.get(f"{base}/hls/{token}/{tid}/{SEGMENT}") as resp:
                assert resp.status == 200
            for bad, code in (
                (f"/hls/{token}/{second.id}/{SEGMENT}", "invalid_media_url"),  # swapped track id
                (f"/hls/{user_id}.{int(expires) + 300}.{mac}/{tid}/{SEGMENT}", "invalid_media_url"),
                (f"/hls/{expired}/{tid}/{SEGMENT}", "media_url_expired"),
                (f"/hls/{token}/{tid}/64k/seg_99999.m4s", "not_found"),
                (f"/hls/{token}/{tid}/notes.txt", "not_found"),  # not an HLS type: the server's rules
            ):
                for _ in range(2):  # the second time from nginx's cache, same answer
                    async with http.get(base + bad) as resp:
                        assert resp.status == (404 if code == "not_found" else 403), bad
                        assert (await resp.json())["error"]["code"] == code, bad
                        assert resp.headers["Access-Control-Allow-Origin"] == "*", bad


async def test_traversal_through_nginx_never_reaches_outside_files(
    app_client: TestClient, installed: Installed
) -> None:
    data_dir = app_client.app[keys.SETTINGS].data_dir
    secret = b"outside-the-media-root"
    (data_dir / "outside.m4s").write_bytes(secret)
    (installed.hls / "64k" / "seg_99998.m4s").symlink_to(data_dir / "outside.m4s")
    (installed.hls / "escape").symlink_to(data_dir)
    token = app_client.app[keys.DELIVERY].signer.sign(installed.id, "user1").token
    hls = f"/hls/{token}/{installed.id}"
    with nginx_in_front(app_client) as base:
        port = int(base.rsplit(":", 1)[1])
        for target in (
            f"{hls}/../../../outside.m4s",
            f"{hls}/%2e%2e/%2e%2e/%2e%2e/outside.m4s",
            f"{hls}/..%2f..%2f..%2foutside.m4s",
            f"{hls}/.%2e/.%2e/.%2e/outside.m4s",
            f"{hls}/%252e%252e/%252e%252e/outside.m4s",
            f"{hls}/64k/seg_99998.m4s",
            f"{hls}/escape/outside.m4s",
            f"{hls}//{data_dir}/outside.m4s",
        ):
            status, body = await raw_request("127.0.0.1", port, target)
            assert status in (400, 403, 404), (target, status)
            assert secret not in body, target
        status, body = await raw_request("127.0.0.1", port, f"{hls}/{SEGMENT}")
        assert status == 200
        assert body == (installed.hls / SEGMENT).read_bytes()
