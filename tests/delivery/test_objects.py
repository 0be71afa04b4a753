"""RFC 9110 answers for objects of the media store (server/delivery/objects.py), on both stores: the
same validators, preconditions and ranges as for local files, the bytes streamed through; or a 302 to
a presigned URL that ends no later than the caller's grant."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from media.storage import LocalMediaStore, MediaStore
from server.delivery.files import FilePolicy
from server.delivery.objects import send_object
from server.middleware.errors import error_middleware
from tests.media.test_storage import a_file
from tests.services import free_port, s3_media_store

KEY = "hls/t1/128k/seg_00003.m4s"
POLICY = FilePolicy("audio/mp4", "public, max-age=60", headers={"Access-Control-Allow-Origin": "*"})


async def serving(aiohttp_client, media_store: MediaStore) -> TestClient:
    async def handler(request: web.Request) -> web.StreamResponse:
        until = request.query.get("redirect_until")
        return await send_object(
            request,
            media_store,
            request.match_info["key"],
            POLICY,
            redirect_until=float(until) if until else None,
        )

    app = web.Application(middlewares=[error_middleware])
    app.router.add_route("*", "/o/{key:.*}", handler)
    return await aiohttp_client(app)


async def test_validators_conditions_and_ranges(aiohttp_client, media_store: MediaStore, tmp_path: Path):
    data = a_file(tmp_path, "seg", 50_000).read_bytes()
    await media_store.put_file(KEY, tmp_path / "seg")
    client = await serving(aiohttp_client, media_store)
    whole = await client.get(f"/o/{KEY}")
    assert whole.status == 200 and await whole.read() == data
    etag, last_modified = whole.headers["ETag"], whole.headers["Last-Modified"]
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Access-Control-Allow-Origin"] == "*"
    assert int(whole.headers["Content-Length"]) == len(data) and whole.content_type == "audio/mp4"

    for header, first, last in (
        ("bytes=10-19", 10, 19),
        ("bytes=-100", 49_900, 49_999),
        ("bytes=49000-", 49_000, 49_999),
    ):
        resp = await client.get(f"/o/{KEY}", headers={"Range": header})
        assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes {first}-{last}/50000"
        assert await resp.read() == data[first : last + 1]
    resp = await client.get(f"/o/{KEY}", headers={"Range": "bytes=60000-"})
    assert resp.status == 416 and resp.headers["Content-Range"] == "bytes */50000"
    assert (await resp.json())["error"]["code"] == "range_not_satisfiable"
    resp = await client.get(f"/o/{KEY}", headers={"Range": "bytes=0-9,20-29"})
    assert resp.status == 200 and await resp.read() == data  # several ranges: the whole object
    assert (await client.get(f"/o/{KEY}", headers={"If-None-Match": etag})).status == 304
    assert (await client.get(f"/o/{KEY}", headers={"If-Modified-Since": last_modified})).status == 304
    assert (await client.get(f"/o/{KEY}", headers={"If-Match": '"other"'})).status == 412
    resp = await client.get(f"/o/{KEY}", headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert resp.status == 200 and await resp.read() == data
    resp = await client.get(f"/o/{KEY}", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert resp.status == 206 and await resp.read() == data[:10]
    head = await client.head(f"/o/{KEY}", headers={"Range": "bytes=0-9"})
    assert head.status == 200 and int(head.headers["Content-Length"]) == len(data)  # Range is GET's only
    missing = await client.get("/o/hls/t1/128k/seg_99999.m4s")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"


async def test_redirects_end_no_later_than_the_grant(aiohttp_client, media_store: MediaStore, tmp_path: Path):
    data = a_file(tmp_path, "seg", 4000).read_bytes()
    await media_store.put_file(KEY, tmp_path / "seg")
    client = await serving(aiohttp_client, media_store)
    until = time.time() + 90
    resp = await client.get(f"/o/{KEY}", params={"redirect_until": str(until)}, allow_redirects=False)
    if isinstance(media_store, LocalMediaStore):
        assert resp.status == 200 and await resp.read() == data  # nothing to redirect to: sent through
        return
    assert resp.status == 302
    location = resp.headers["Location"]
    expires = int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0])
    assert 1 <= expires <= 90
    async with aiohttp.ClientSession() as http, http.get(location, headers={"Range": "bytes=0-99"}) as got:
        assert got.status == 206 and await got.read() == data[:100]
    # A grant about to end is not stretched by a redirect: the bytes come through.
    resp = await client.get(
        f"/o/{KEY}", params={"redirect_until": str(time.time() + 0.5)}, allow_redirects=False
    )
    assert resp.status == 200 and await resp.read() == data


async def test_an_unreachable_store_answers_503(aiohttp_client):
    media_store = s3_media_store(f"http://127.0.0.1:{free_port()}", "p", timeout=2.0)
    client = await serving(aiohttp_client, media_store)
    resp = await client.get(f"/o/{KEY}")
    body = await resp.json()
    assert resp.status == 503 and resp.headers["Retry-After"]
    assert (
        body["error"]["code"] == "service_unavailable"
        and body["error"]["details"]["dependency"] == "object_store"
    )
