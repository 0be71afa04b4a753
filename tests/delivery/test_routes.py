"""The media endpoint, the signed routes and the credentialed stream, through the whole app."""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp.test_utils import TestClient
from yarl import URL

from server import keys
from tests.delivery.conftest import Installed, Source, install, local_path, media_urls, segment_cache
from tests.helpers import error_code, signed_in


async def test_media_urls_are_absolute_signed_and_expiring(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    body = await media_urls(client, listener, track.id)
    assert set(body) == {"hls_url", "stream_url", "expires_at"}
    hls, stream = URL(body["hls_url"]), URL(body["stream_url"])
    assert hls.is_absolute() and hls.host == client.server.host and hls.port == client.server.port
    assert hls.path.startswith("/hls/") and hls.path.endswith(f"/{track.id}/master.m3u8")
    assert stream.path.startswith("/media/") and stream.path.endswith(f"/{track.id}/original")
    assert body["expires_at"].endswith("Z")
    ttl = client.app[keys.SETTINGS].media_url_ttl
    expires = time.mktime(time.strptime(body["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert time.time() + ttl - 5 <= expires <= time.time() + ttl + 301


async def test_media_urls_use_public_url_when_configured(aiohttp_client, settings, source: Source) -> None:
    from dataclasses import replace

    from server.app import create_app
    from tests.helpers import signed_in

    client = await aiohttp_client(create_app(replace(settings, public_url="https://music.example.org/")))
    _, headers = await signed_in(client, "listener")
    installed = await install(client.app, source)
    body = await media_urls(client, headers, installed.id)
    assert body["hls_url"].startswith("https://music.example.org/hls/")
    assert body["stream_url"].startswith("https://music.example.org/media/")


async def test_media_urls_need_a_signed_in_user(client: TestClient, track: Installed) -> None:
    resp = await client.get(f"/api/v1/tracks/{track.id}/media")
    assert resp.status == 401
    assert error_code(await resp.json()) == "unauthorized"


async def test_unknown_track_is_404_and_not_ready_is_409(
    client: TestClient, source: Source, listener: dict[str, str]
) -> None:
    resp = await client.get("/api/v1/tracks/000000000000000000000000/media", headers=listener)
    assert resp.status == 404
    # The uploader (and admins) are told why; anyone else cannot see such a track at all (404).
    owner, owner_h = await signed_in(client, "artist")
    processing = await install(client.app, source, status="processing")
    failed = await install(client.app, source, status="failed")
    for installed in (processing, failed):
        await client.app[keys.TRACKS].update(installed.id, {"owner_id": owner["_id"]})
        resp = await client.get(f"/api/v1/tracks/{installed.id}/media", headers=listener)
        assert resp.status == 404
    resp = await client.get(f"/api/v1/tracks/{processing.id}/media", headers=owner_h)
    assert resp.status == 409
    assert error_code(await resp.json()) == "track_not_ready"
    resp = await client.get(f"/api/v1/tracks/{failed.id}/media", headers=owner_h)
    assert resp.status == 409
    assert error_code(await resp.json()) == "track_failed"


async def test_master_media_playlists_and_segments_resolve_relative_to_the_token(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    master_url = URL((await media_urls(client, listener, track.id))["hls_url"])
    resp = await client.get(master_url.raw_path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    variants = [line for line in (await resp.text()).splitlines() if line and not line.startswith("#")]
    assert variants, "the master playlist lists no variant"
    for variant in variants:
        media_url = master_url.join(URL(variant))
        resp = await client.get(media_url.raw_path)
        assert resp.status == 200, (variant, await resp.text())
        text = await resp.text()
        uris = [line for line in text.splitlines() if line and not line.startswith("#")]
        uris += [part.split('"')[1] for part in text.splitlines() if part.startswith("#EXT-X-MAP")]
        assert len(uris) >= 2
        for uri in uris:
            seg = await client.get(media_url.join(URL(uri)).raw_path)
            assert seg.status == 200, uri
            assert seg.headers["Content-Type"] == "audio/mp4"
            assert segment_cache(seg.headers["Cache-Control"])
            on_disk = track.hls / media_url.path.split(f"/{track.id}/", 1)[1].rsplit("/", 1)[0] / uri
            assert await seg.read() == on_disk.read_bytes()


async def test_swapped_track_id_is_forbidden(
    client: TestClient, source: Source, listener: dict[str, str]
) -> None:
    first = await install(client.app, source)
    second = await install(client.app, source)
    token = URL((await media_urls(client, listener, first.id))["hls_url"]).parts[2]
    assert (await client.get(f"/hls/{token}/{first.id}/master.m3u8")).status == 200
    resp = await client.get(f"/hls/{token}/{second.id}/master.m3u8")
    assert resp.status == 403
    assert error_code(await resp.json()) == "invalid_media_url"
    resp = await client.get(f"/media/{token}/{second.id}/original")
    assert resp.status == 403


async def test_tampered_tokens_are_forbidden(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    token = URL((await media_urls(client, listener, track.id))["hls_url"]).parts[2]
    user_id, login_id, expires, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for bad in (
        f"{user_id}.{login_id}.{expires}.{flipped}",
        f"{user_id}.{login_id}.{int(expires) + 3600}.{mac}",  # a later expiry, same signature
        f"someoneelse.{login_id}.{expires}.{mac}",
        f"{user_id}.otherlogin.{expires}.{mac}",  # another sign-in's name, same signature
        f"{user_id}.{expires}.{mac}",  # the sign-in left out
        "garbage",
        f"{user_id}.{login_id}.{expires}.{mac}x",
    ):
        resp = await client.get(f"/hls/{bad}/{track.id}/master.m3u8")
        assert resp.status == 403, bad
        assert error_code(await resp.json()) == "invalid_media_url"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_expired_token_says_so(client: TestClient, track: Installed, listener: dict[str, str]) -> None:
    signer = client.app[keys.DELIVERY].signer
    old = signer.sign(track.id, "user1", now=time.time() - signer.ttl - 600)
    resp = await client.get(f"/hls/{old.token}/{track.id}/master.m3u8")
    assert resp.status == 403
    assert error_code(await resp.json()) == "media_url_expired"
    resp = await client.get(f"/media/{old.token}/{track.id}/original")
    assert resp.status == 403


async def test_deleted_track_files_answer_404(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    urls = await media_urls(client, listener, track.id)
    assert (await client.get(local_path(urls["hls_url"]))).status == 200
    track.layout.remove_track(track.id)
    resp = await client.get(local_path(urls["hls_url"]))
    assert resp.status == 404
    assert error_code(await resp.json()) == "not_found"
    # The original of an upload is found in the layout first; gone there and in the catalog: 404.
    await client.app[keys.DB]["tracks"].delete_one({"_id": track.id})
    assert (await client.get(local_path(urls["stream_url"]))).status == 404


async def test_only_hls_file_types_are_served(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    token = URL((await media_urls(client, listener, track.id))["hls_url"]).parts[2]
    (track.hls / "notes.txt").write_text("private")
    assert (await client.get(f"/hls/{token}/{track.id}/notes.txt")).status == 404
    assert (await client.get(f"/hls/{token}/{track.id}/64k")).status == 404


async def test_signed_stream_serves_the_original_with_ranges(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    path = local_path((await media_urls(client, listener, track.id))["stream_url"])
    data = track.original.read_bytes()
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "audio/flac"
    assert resp.headers["Accept-Ranges"] == "bytes"
    assert await resp.read() == data
    resp = await client.get(path, headers={"Range": "bytes=100-199"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert await resp.read() == data[100:200]


async def test_credentialed_stream(client: TestClient, track: Installed, listener: dict[str, str]) -> None:
    data = track.original.read_bytes()
    assert (await client.get(f"/api/v1/tracks/{track.id}/stream")).status == 401
    resp = await client.get(f"/api/v1/tracks/{track.id}/stream", headers={**listener, "Range": "bytes=-10"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    assert resp.headers["Cache-Control"] == "private, max-age=3600"
    assert await resp.read() == data[-10:]
    resp = await client.head(f"/api/v1/tracks/{track.id}/stream", headers=listener)
    assert resp.status == 200
    assert int(resp.headers["Content-Length"]) == len(data)
    resp = await client.get("/api/v1/tracks/000000000000000000000000/stream", headers=listener)
    assert resp.status == 404


async def test_scanned_original_is_served_from_its_own_place(
    client: TestClient, source: Source, listener: dict[str, str], tmp_path: Path
) -> None:
    outside = tmp_path / "library" / "song.flac"
    outside.parent.mkdir()
    outside.write_bytes(source.original.read_bytes())
    doc = await client.app[keys.TRACKS].insert(
        {
            "title": "Scanned",
            "artist_id": "a",
            "owner_id": "o",
            "status": "ready",
            "original": {"path": str(outside), "format": "flac", "mime": "audio/flac", "source": "scan"},
        }
    )
    signed = client.app[keys.DELIVERY].signer.sign(doc.id, "user1")
    resp = await client.get(f"/media/{signed.token}/{doc.id}/original", headers={"Range": "bytes=0-3"})
    assert resp.status == 206
    assert await resp.read() == b"fLaC"
