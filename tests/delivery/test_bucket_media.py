"""Media in an S3 bucket (moto's server mode): an upload lands in the bucket, the worker fetches it and
publishes the ladder there, players get it through the server's signed URLs, and a delete empties it."""

from __future__ import annotations

import dataclasses
import time
import uuid

import aiohttp
import pytest
from aiohttp import web

from server import keys
from server.app import create_app
from server.settings import Settings
from tests.helpers import decoded_seconds, make_track, signed_in, wait_for_track
from tests.lane_server import LaneTestServer
from tests.services import S3_BUCKET


@pytest.fixture
def app(settings: Settings, s3_endpoint: str) -> web.Application:
    prefix = f"app{uuid.uuid4().hex[:8]}"
    return create_app(
        dataclasses.replace(
            settings,
            media_store=f"s3://{S3_BUCKET}/{prefix}",
            s3_endpoint=s3_endpoint,
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
    )


@pytest.fixture
async def client(aiohttp_client, app: web.Application):
    return await aiohttp_client(LaneTestServer(app))


async def test_an_upload_plays_from_the_bucket_and_a_delete_empties_it(client, app, s3_endpoint):
    _, headers = await signed_in(client, "artist")
    made = await make_track(client, headers, "flac", seconds=3.0)
    track = await wait_for_track(client, headers, made["id"])
    assert track["status"] == "ready"
    store = app[keys.DELIVERY].store
    keys_now = await store.keys(f"hls/{track['id']}/")
    assert (
        f"hls/{track['id']}/master.m3u8" in keys_now and len(keys_now) == 10
    )  # master + 3 rungs x (playlist, init, one segment)
    assert await store.keys(f"originals/{track['id']}/")
    assert not (app[keys.SETTINGS].media_dir / "hls" / track["id"]).exists()  # nothing kept locally

    urls = await (await client.get(f"/api/v1/tracks/{track['id']}/media", headers=headers)).json()
    assert abs(await decoded_seconds(urls["hls_url"]) - 3.0) < 0.3
    async with (
        aiohttp.ClientSession() as http,
        http.get(urls["stream_url"], headers={"Range": "bytes=0-3"}) as r,
    ):
        assert r.status == 206 and await r.read() == b"fLaC"
    resp = await client.get(f"/api/v1/tracks/{track['id']}/stream", headers={**headers, "Range": "bytes=0-3"})
    assert resp.status == 206 and await resp.read() == b"fLaC"

    resp = await client.delete(f"/api/v1/tracks/{track['id']}", headers=headers)
    assert resp.status == 204
    for prefix in ("hls/", "originals/", "covers/"):
        assert [k for k in await store.keys(prefix) if track["id"] in k] == []


async def test_apps_and_covers_are_served_from_the_bucket(client, app):
    from tests.audio import make_jpeg
    from tests.subsonic.conftest import app_account, token_auth

    artist = await app_account(client, "artist")
    made = await make_track(client, artist.headers, "flac", seconds=3.0)
    track = await wait_for_track(client, artist.headers, made["id"])
    resp = await client.put(
        f"/api/v1/tracks/{track['id']}/cover",
        data=make_jpeg(),
        headers={**artist.headers, "Content-Type": "image/jpeg"},
    )
    assert resp.status == 200, await resp.text()
    store = app[keys.DELIVERY].store
    assert await store.stat(f"covers/{track['id']}.jpg") is not None
    cover = await client.get(f"/api/v1/tracks/{track['id']}/cover", headers=artist.headers)
    assert cover.status == 200 and (await cover.read())[:2] == b"\xff\xd8"

    query = {**token_auth(artist), "v": "1.16.1", "c": "t", "id": track["id"]}
    small = await client.get("/rest/getCoverArt", params={**query, "size": "64"})
    assert small.status == 200 and (await small.read())[:2] == b"\xff\xd8"
    capped = await client.get("/rest/stream", params={**query, "maxBitRate": "64"})
    body = await capped.read()
    assert capped.status == 200 and capped.content_type == "audio/mp4" and len(body) > 10_000
    ranged = await client.get(
        "/rest/stream", params={**query, "maxBitRate": "64"}, headers={"Range": "bytes=100-199"}
    )
    assert ranged.status == 206 and await ranged.read() == body[100:200]
    base = str(client.make_url("/rest"))
    from urllib.parse import urlencode

    assert abs(await decoded_seconds(f"{base}/hls.m3u8?{urlencode(query)}") - 3.0) < 0.3


async def test_readiness_names_the_bucket_and_redirects_end_with_the_grant(
    aiohttp_client, settings, s3_endpoint
):
    from datetime import datetime
    from urllib.parse import parse_qs, urljoin, urlsplit

    prefix = f"app{uuid.uuid4().hex[:8]}"
    redirecting = create_app(
        dataclasses.replace(
            settings, media_store=f"s3://{S3_BUCKET}/{prefix}", s3_endpoint=s3_endpoint,
            s3_access_key_id="test", s3_secret_access_key="test", s3_delivery="redirect",
        )
    )  # fmt: skip
    client = await aiohttp_client(LaneTestServer(redirecting))
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["object_store"] == "ok"
    _, headers = await signed_in(client, "artist")
    made = await make_track(client, headers, "flac", seconds=3.0)
    track = await wait_for_track(client, headers, made["id"])
    urls = await (await client.get(f"/api/v1/tracks/{track['id']}/media", headers=headers)).json()

    async with aiohttp.ClientSession() as http:

        async def playlist_uris(url: str) -> list[str]:
            async with http.get(url, allow_redirects=False) as resp:
                assert resp.status == 200  # playlists always come from the server
                return [
                    urljoin(url, u) for u in (await resp.text()).splitlines() if u and not u.startswith("#")
                ]

        variant = (await playlist_uris(urls["hls_url"]))[0]
        segment = (await playlist_uris(variant))[0]
        async with http.get(segment, allow_redirects=False) as resp:
            assert resp.status == 302
            location = resp.headers["Location"]
        expires_in = int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0])
        grant_left = (
            datetime.fromisoformat(urls["expires_at"].replace("Z", "+00:00")).timestamp() - time.time()
        )
        assert 1 <= expires_in <= grant_left + 1
        async with http.get(location) as got:
            assert got.status == 200 and len(await got.read()) > 1000
    assert abs(await decoded_seconds(urls["hls_url"]) - 3.0) < 0.3  # ffmpeg follows the redirects


async def test_the_compose_default_plays_through_the_deploy_nginx(client, app, tmp_path):
    """docker-compose.yml: media in the bucket and deploy/nginx.conf in front with no media of its own.
    nginx checks the token, finds no file and hands the request to the server, which streams the
    bucket's object: a player sees the same bytes, ranges and headers either way."""
    from urllib.parse import urlsplit

    from tests.delivery.nginx import deploy_config, run_nginx, wait_for_port
    from tests.services import free_port

    _, headers = await signed_in(client, "artist")
    made = await make_track(client, headers, "flac", seconds=3.0)
    track = await wait_for_track(client, headers, made["id"])
    urls = await (await client.get(f"/api/v1/tracks/{track['id']}/media", headers=headers)).json()
    port = free_port()
    no_media = tmp_path / "nginx-has-no-media"
    no_media.mkdir()

    def config(prefix):
        return deploy_config(prefix, app_port=client.server.port, listen_port=port, media_dir=no_media)

    def through_nginx(url: str) -> str:
        parts = urlsplit(url)
        return (
            f"http://127.0.0.1:{port}{parts.path}?{parts.query}"
            if parts.query
            else f"http://127.0.0.1:{port}{parts.path}"
        )

    with run_nginx(config):
        wait_for_port(port)
        master = through_nginx(urls["hls_url"])
        async with aiohttp.ClientSession() as http:
            async with http.get(master) as resp:
                assert resp.status == 200 and resp.content_type == "application/vnd.apple.mpegurl"
                rung = next(u for u in (await resp.text()).splitlines() if u and not u.startswith("#"))
            rung_url = master.rsplit("/", 1)[0] + "/" + rung
            async with http.get(rung_url) as resp:
                segment = next(u for u in (await resp.text()).splitlines() if u and not u.startswith("#"))
            segment_url = rung_url.rsplit("/", 1)[0] + "/" + segment
            direct = segment_url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{client.server.port}")
            async with http.get(direct) as resp:
                body = await resp.read()
            async with http.get(segment_url) as resp:
                assert resp.status == 200 and await resp.read() == body
                assert resp.headers["Content-Type"] == "audio/mp4"
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
            async with http.get(segment_url, headers={"Range": "bytes=10-19"}) as resp:
                assert resp.status == 206 and await resp.read() == body[10:20]
                assert resp.headers["Content-Range"] == f"bytes 10-19/{len(body)}"
        assert abs(await decoded_seconds(master) - 3.0) < 0.3
