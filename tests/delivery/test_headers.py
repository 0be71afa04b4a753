"""Headers of the signed routes: types, validators, conditional requests, CORS, gzip, caching."""

from __future__ import annotations

import gzip

from aiohttp.test_utils import TestClient
from yarl import URL

from tests.delivery.conftest import Installed, media_urls, segment_cache


async def _token(client: TestClient, listener: dict[str, str], track: Installed) -> str:
    return URL((await media_urls(client, listener, track.id))["hls_url"]).parts[2]


async def test_playlist_headers_and_gzip(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    url = f"/hls/{await _token(client, listener, track)}/{track.id}/64k/index.m3u8"
    plain_text = (track.hls / "64k" / "index.m3u8").read_bytes()
    resp = await client.get(url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    body = await resp.read()
    assert int(resp.headers["Content-Length"]) == len(body)
    assert gzip.decompress(body) == plain_text
    gz_etag = resp.headers["ETag"]

    resp = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in resp.headers
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert await resp.read() == plain_text
    # Two representations, two entity tags: a cache must never answer one for the other.
    assert resp.headers["ETag"] != gz_etag
    resp = await client.get(url, headers={"Accept-Encoding": "gzip;q=0, br"})
    assert "Content-Encoding" not in resp.headers


async def test_segments_never_gzip_and_are_immutable(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    url = f"/hls/{await _token(client, listener, track)}/{track.id}/128k/seg_00000.m4s"
    resp = await client.get(url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.status == 200
    assert "Content-Encoding" not in resp.headers
    assert resp.headers["Content-Type"] == "audio/mp4"
    assert segment_cache(resp.headers["Cache-Control"])
    assert await resp.read() == (track.hls / "128k" / "seg_00000.m4s").read_bytes()
    init = await client.get(f"/hls/{await _token(client, listener, track)}/{track.id}/128k/init.mp4")
    assert init.headers["Content-Type"] == "audio/mp4"
    assert segment_cache(init.headers["Cache-Control"])


async def test_validators_and_304(client: TestClient, track: Installed, listener: dict[str, str]) -> None:
    url = f"/hls/{await _token(client, listener, track)}/{track.id}/64k/seg_00001.m4s"
    first = await client.get(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},  # weak comparison for If-None-Match
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        resp = await client.get(url, headers=headers)
        assert resp.status == 304, headers
        assert await resp.read() == b""
        assert resp.headers["ETag"] == etag
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert (await client.get(url, headers={"If-None-Match": '"other"'})).status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    assert (
        await client.get(url, headers={"If-None-Match": '"x"', "If-Modified-Since": modified})
    ).status == 200
    assert (await client.get(url, headers={"If-Match": '"x"'})).status == 412
    assert (await client.get(url, headers={"If-Match": etag})).status == 200
    assert (
        await client.get(url, headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    ).status == 412


async def test_cors_preflight_asking_for_range(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    url = f"/hls/{await _token(client, listener, track)}/{track.id}/64k/seg_00000.m4s"
    resp = await client.options(
        url,
        headers={
            "Origin": "https://player.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in resp.headers["Access-Control-Allow-Methods"]
    assert "HEAD" in resp.headers["Access-Control-Allow-Methods"]
    assert "range" in resp.headers["Access-Control-Allow-Headers"].lower()
    resp = await client.options(f"/media/x/{track.id}/original", headers={"Origin": "https://p.example"})
    assert resp.status == 204

    resp = await client.get(url, headers={"Origin": "https://player.example", "Range": "bytes=0-9"})
    assert resp.status == 206
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"content-range", "content-length", "accept-ranges"} <= exposed


async def test_head_matches_get(client: TestClient, track: Installed, listener: dict[str, str]) -> None:
    url = f"/hls/{await _token(client, listener, track)}/{track.id}/256k/seg_00000.m4s"
    get = await client.get(url)
    head = await client.head(url)
    assert head.status == 200
    assert await head.read() == b""
    for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges", "Cache-Control"):
        assert head.headers[name] == get.headers[name], name
    # Range is defined for GET only (RFC 9110 §14.2): HEAD ignores it.
    head = await client.head(url, headers={"Range": "bytes=0-9"})
    assert head.status == 200
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


async def test_unsatisfiable_range_is_416_with_size(
    client: TestClient, track: Installed, listener: dict[str, str]
) -> None:
    url = f"/hls/{await _token(client, listener, track)}/{track.id}/64k/seg_00000.m4s"
    size = (track.hls / "64k" / "seg_00000.m4s").stat().st_size
    for value in ("bytes=-0", f"bytes={size}-", f"bytes={size + 5}-{size + 9}"):
        resp = await client.get(url, headers={"Range": value})
        assert resp.status == 416, value
        assert resp.headers["Content-Range"] == f"bytes */{size}"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_multipart_byteranges(client: TestClient, track: Installed, listener: dict[str, str]) -> None:
    url = f"/hls/{await _token(client, listener, track)}/{track.id}/64k/seg_00000.m4s"
    data = (track.hls / "64k" / "seg_00000.m4s").read_bytes()
    resp = await client.get(url, headers={"Range": "bytes=0-9,20-29,-5"})
    assert resp.status == 206
    ctype = resp.headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    body = await resp.read()
    assert int(resp.headers["Content-Length"]) == len(body)
    parts = parse_multipart(body, ctype.split("boundary=", 1)[1])
    size = len(data)
    assert parts == [
        (f"bytes 0-9/{size}", data[0:10]),
        (f"bytes 20-29/{size}", data[20:30]),
        (f"bytes {size - 5}-{size - 1}/{size}", data[-5:]),
    ]


def parse_multipart(body: bytes, boundary: str) -> list[tuple[str, bytes]]:
    """(Content-Range, data) of each part of a multipart/byteranges body."""
    parts = []
    for chunk in body.split(f"--{boundary}".encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().strip().split("\r\n"))
        parts.append((headers["Content-Range"], data[:-2] if data.endswith(b"\r\n") else data))
    return parts
