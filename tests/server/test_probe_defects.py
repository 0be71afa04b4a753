"""Defects an outside probe found (issue "a sound core"): each test failed before its fix.

Security: media visibility, publishing under someone else's artist profile, login limits per account,
media URLs on a forged Host, /metrics, secrets in logs, caching of per-caller and signed answers,
private playlists. Crashes: nulls saved by PATCH, unknown genres, malformed multipart, NUL in a
query, timestamps without a zone, duplicate and failed uploads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time

import pytest
import structlog

from server import keys
from server.app import create_app
from server.settings import RateLimits
from tests.audio import make_audio
from tests.delivery.conftest import Source, install, local_path, media_urls
from tests.delivery.conftest import source as source
from tests.helpers import error_code, login, make_track, make_user, signed_in, upload_file

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# -- security ---------------------------------------------------------------------------------------


async def test_stream_applies_the_visibility_of_get_track(client, source: Source):
    """Another artist's processing or failed track: 404 on /stream as on /tracks/{id}; its owner plays it."""
    owner, owner_h = await signed_in(client, "artist")
    _, listener_h = await signed_in(client, "listener")
    _, other_artist_h = await signed_in(client, "artist")
    _, admin_h = await signed_in(client, "admin")
    for status in ("processing", "failed"):
        installed = await install(client.app, source, status=status)
        await client.app[keys.TRACKS].update(installed.id, {"owner_id": owner["_id"]})
        for headers in (listener_h, other_artist_h):
            for path in ("", "/stream", "/media", "/cover"):
                resp = await client.get(f"/api/v1/tracks/{installed.id}{path}", headers=headers)
                assert resp.status == 404, (status, path, resp.status)
            resp = await client.head(f"/api/v1/tracks/{installed.id}/stream", headers=headers)
            assert resp.status == 404
        for headers in (owner_h, admin_h):
            resp = await client.get(
                f"/api/v1/tracks/{installed.id}/stream", headers={**headers, "Range": "bytes=0-9"}
            )
            assert resp.status == 206 and len(await resp.read()) == 10


async def test_an_artist_cannot_publish_under_another_artists_profile(client, tmp_path):
    _, alice = await signed_in(client, "artist")
    _, bob = await signed_in(client, "artist")
    _, admin = await signed_in(client, "admin")
    path = make_audio(tmp_path / "a.mp3", "mp3", 1.0)
    status, theirs = await upload_file(client, alice, path, fields={"artist": "Alice Band", "album": "First"})
    assert status == 202, theirs
    before = await (await client.get("/api/v1/artists", headers=alice)).json()

    # By name in the form, and by the file's own tags (case and accents do not matter).
    other = make_audio(tmp_path / "b.mp3", "mp3", 1.0, tags={"artist": "ALICE BÀND"})
    for fields, file in (({"artist": "alice band"}, path), ({}, other)):
        status, body = await upload_file(client, bob, file, fields=fields)
        assert status == 403 and error_code(body) == "artist_not_yours", body
        assert body["error"]["details"]["artist_id"] == theirs["artist_id"]
    # Nothing was created by the refused uploads, and no temp file is left.
    after = await (await client.get("/api/v1/artists", headers=alice)).json()
    assert after["total"] == before["total"]
    assert list(client.app[keys.SETTINGS].tmp_dir.iterdir()) == []

    # Moving one's own track to their profile or album is refused the same way.
    status, mine = await upload_file(client, bob, other, fields={"artist": "Bob Solo"})
    assert status == 202, mine
    for change in ({"artist_id": theirs["artist_id"]}, {"album_id": theirs["album_id"]}):
        resp = await client.patch(f"/api/v1/tracks/{mine['id']}", json=change, headers=bob)
        assert resp.status in (400, 403), change
        assert error_code(await resp.json()) in ("artist_not_yours", "album_artist_mismatch")
    resp = await client.patch(
        f"/api/v1/tracks/{mine['id']}",
        json={"artist_id": theirs["artist_id"], "album_id": theirs["album_id"]},
        headers=bob,
    )
    assert resp.status == 403 and error_code(await resp.json()) == "artist_not_yours"
    assert (await (await client.get(f"/api/v1/tracks/{mine['id']}", headers=bob)).json())["artist_name"] == (
        "Bob Solo"
    )
    # Admins may, and the owner may move between their own profiles.
    resp = await client.patch(
        f"/api/v1/tracks/{mine['id']}", json={"artist_id": theirs["artist_id"]}, headers=admin
    )
    assert resp.status == 200


async def test_an_upload_naming_no_artist_goes_under_the_uploaders_own_profile(client, tmp_path):
    alice, alice_h = await signed_in(client, "artist")
    bob, bob_h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "untagged.ogg", "ogg", 1.0)
    _, a = await upload_file(client, alice_h, path)
    _, b = await upload_file(client, bob_h, path)
    assert (a["artist_name"], b["artist_name"]) == (alice["username"], bob["username"])
    # Once they manage a profile, untagged uploads go there.
    _, named = await upload_file(
        client, alice_h, path, fields={"artist": "Alice Band", "allow_duplicate": "true"}
    )
    _, again = await upload_file(client, alice_h, path, fields={"allow_duplicate": "true"})
    assert again["artist_id"] == a["artist_id"] != named["artist_id"]


@pytest.fixture
def app(settings):
    limits = RateLimits(login_per_username=(4, 60), login_per_ip=(6, 60))
    return create_app(dataclasses.replace(settings, rate_limits=limits))


async def test_the_login_limit_counts_the_account_whatever_name_is_typed(client):
    user = await make_user(client.app)
    statuses = []
    for i in range(5):
        name = user["username"] if i % 2 else user["email"].upper()
        resp = await client.post("/api/v1/auth/login", json={"username": name, "password": "wrong"})
        statuses.append(resp.status)
    # Four tries for the account, typed as username or email alike; the fifth is refused.
    assert statuses == [401, 401, 401, 401, 429]
    # The account refusal did not spend the address's budget: 6 per address, 4 were used, and two
    # other accounts can still be tried from here.
    other = await make_user(client.app)
    third = await make_user(client.app)
    for name in (other["username"], third["username"]):
        resp = await client.post("/api/v1/auth/login", json={"username": name, "password": "wrong"})
        assert resp.status == 401
    resp = await client.post("/api/v1/auth/login", json={"username": "nobody-at-all", "password": "x"})
    assert resp.status == 429


async def test_media_urls_are_never_built_on_a_forged_host(aiohttp_client, client, source: Source):
    _, listener = await signed_in(client, "listener")
    installed = await install(client.app, source)
    resp = await client.get(
        f"/api/v1/tracks/{installed.id}/media", headers={**listener, "Host": "evil.example"}
    )
    assert resp.status == 400 and error_code(await resp.json()) == "host_not_allowed"
    # Loopback names and IP literals are allowed by default; the test client uses 127.0.0.1.
    body = await media_urls(client, listener, installed.id)
    assert "evil" not in body["hls_url"]
    resp = await client.get(
        f"/api/v1/tracks/{installed.id}/media", headers={**listener, "Host": "localhost:1"}
    )
    assert (await resp.json())["hls_url"].startswith("http://localhost:1/hls/")
    # Allowed by the operator: exact names and subdomain wildcards.
    settings = dataclasses.replace(
        client.app[keys.SETTINGS], allowed_hosts="music.example.org, *.example.net"
    )
    allowed = await aiohttp_client(create_app(settings))
    _, h = await signed_in(allowed, "listener")
    for host, ok in (("music.example.org", True), ("a.example.net:8080", True), ("example.org", False)):
        resp = await allowed.get(f"/api/v1/tracks/{installed.id}/media", headers={**h, "Host": host})
        assert (resp.status == 200) is ok, host
        if ok:
            assert (await resp.json())["hls_url"].startswith(f"http://{host}/hls/")


async def test_metrics_need_loopback_without_a_proxy_or_the_token(aiohttp_client, client):
    assert (await client.get("/metrics")).status == 200  # the test client is a direct loopback peer
    resp = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 403 and error_code(await resp.json()) == "metrics_forbidden"
    with_token = await aiohttp_client(
        create_app(dataclasses.replace(client.app[keys.SETTINGS], metrics_token="s3cret-scrape"))
    )
    assert (await with_token.get("/metrics")).status == 401
    assert (await with_token.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    resp = await with_token.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert resp.status == 200 and "hs_http_requests_total" in await resp.text()


async def test_access_logs_never_carry_media_tokens(client, source: Source):
    installed = await install(client.app, source)
    _, listener = await signed_in(client, "listener")
    urls = await media_urls(client, listener, installed.id)
    token = local_path(urls["hls_url"]).split("/")[2]
    with structlog.testing.capture_logs() as logs:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        try:
            for url in (
                urls["hls_url"],
                urls["stream_url"],
                urls["hls_url"].replace(token, token[:-2] + "xx"),
            ):
                await client.get(local_path(url))
            await client.get(f"/hls-auth/{token}/{installed.id}")
        finally:
            structlog.reset_defaults()
    lines = [entry for entry in logs if entry.get("event") == "request"]
    assert len(lines) >= 4
    assert all(token not in json.dumps(entry, default=str) for entry in logs)
    assert any("[redacted]" in entry["path"] for entry in lines)


async def test_caching_matches_who_may_see_and_how_long_the_token_lives(client, source: Source):
    installed = await install(client.app, source)
    _, listener = await signed_in(client, "listener")
    for path in ("/api/v1/me", f"/api/v1/tracks/{installed.id}", "/api/v1/tracks/nope"):
        resp = await client.get(path, headers=listener)
        assert resp.headers["Cache-Control"] == "no-store", path
    urls = await media_urls(client, listener, installed.id)
    ttl = client.app[keys.SETTINGS].media_url_ttl
    master = await client.get(local_path(urls["hls_url"]))
    assert master.headers["Cache-Control"] == "public, max-age=60"
    playlist = await master.text()
    variant_uri = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
    variant_url = urls["hls_url"].rsplit("/", 1)[0] + "/" + variant_uri
    variant = await (await client.get(local_path(variant_url))).text()
    segment_uri = next(line for line in variant.splitlines() if line and not line.startswith("#"))
    segment_url = variant_url.rsplit("/", 1)[0] + "/" + segment_uri
    for url in (segment_url, urls["stream_url"]):
        resp = await client.get(local_path(url))
        assert resp.status == 200
        max_age = int(re.search(r"max-age=(\d+)", resp.headers["Cache-Control"]).group(1))
        assert resp.headers["Cache-Control"].startswith("public")
        # Expiries are rounded up to the signer's 300 s buckets (tests/delivery/test_routes.py).
        assert ttl - 5 <= max_age <= ttl + 300, (url, resp.headers["Cache-Control"])


async def test_cache_lifetime_is_cut_to_the_tokens_remaining_life():
    from server.delivery.service import PLAYLIST_CACHE, SEGMENT_CACHE, token_cache_control

    now = time.time()
    assert token_cache_control(SEGMENT_CACHE, now + 100.9, now) == "public, max-age=100, immutable"
    assert token_cache_control(PLAYLIST_CACHE, now + 100, now) == "public, max-age=60"
    assert token_cache_control(SEGMENT_CACHE, now - 5, now) == "public, max-age=0, immutable"


async def test_admins_cannot_read_a_private_playlist_but_may_delete_it(client):
    _, owner = await signed_in(client, "listener")
    _, admin = await signed_in(client, "admin")
    resp = await client.post("/api/v1/playlists", json={"name": "secret mix"}, headers=owner)
    playlist = await resp.json()
    resp = await client.get(f"/api/v1/playlists/{playlist['id']}", headers=admin)
    assert resp.status == 404
    openapi = client.app[keys.OPENAPI]["paths"]["/api/v1/playlists/{id}"]
    assert "private" in openapi["get"]["summary"] and "admin" not in openapi["get"]["summary"].lower()
    assert (await client.delete(f"/api/v1/playlists/{playlist['id']}", headers=admin)).status == 204
    assert (await client.get(f"/api/v1/playlists/{playlist['id']}", headers=owner)).status == 404


# -- crashes and corruption -------------------------------------------------------------------------


async def test_patch_never_saves_a_null_name_or_title(client):
    _, artist = await signed_in(client, "artist")
    created = await (await client.post("/api/v1/artists", json={"name": "Nully"}, headers=artist)).json()
    album = await (
        await client.post("/api/v1/albums", json={"title": "T", "artist_id": created["id"]}, headers=artist)
    ).json()
    for path, field in (
        (f"/api/v1/artists/{created['id']}", "name"),
        (f"/api/v1/albums/{album['id']}", "title"),
    ):
        resp = await client.patch(path, json={field: None}, headers=artist)
        assert resp.status == 400 and field in (await resp.json())["error"]["details"]["fields"]
    for path in ("/api/v1/artists", "/api/v1/albums"):
        resp = await client.get(path, headers=artist)
        assert resp.status == 200
    assert (await (await client.get(f"/api/v1/artists/{created['id']}", headers=artist)).json())[
        "name"
    ] == "Nully"


async def test_search_with_an_unknown_genre_is_an_empty_answer(client):
    _, h = await signed_in(client, "listener")
    resp = await client.get("/api/v1/search", params={"q": "a", "genre": "no-such-genre"}, headers=h)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["tracks"]["total"] == body["albums"]["total"] == body["artists"]["total"] == 0


async def test_a_control_character_in_a_part_name_is_a_400(client):
    _, h = await signed_in(client, "artist")
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="fi\x01le"; filename="a.mp3"\r\n\r\nabc\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    headers = {**h, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    resp = await client.post("/api/v1/tracks", data=body, headers=headers)
    assert resp.status == 400, await resp.text()
    assert error_code(await resp.json()) == "invalid_form"
    assert list(client.app[keys.SETTINGS].tmp_dir.iterdir()) == []


async def test_a_nul_in_a_name_query_is_answered(client):
    _, h = await signed_in(client, "listener")
    for path in ("/api/v1/artists?q=%00", "/api/v1/artists?q=a%00b", "/api/v1/search?q=%00"):
        resp = await client.get(path, headers=h)
        assert resp.status in (200, 400), (path, resp.status)


async def test_every_timestamp_carries_its_zone(client):
    resp = await client.post(
        "/api/v1/auth/register",
        json={"username": "zoned", "email": "zoned@example.com", "password": "a long enough password"},
    )
    assert ISO_Z.match((await resp.json())["created_at"])
    _, admin = await signed_in(client, "admin")
    tokens = await login(client, "zoned", "a long enough password")
    me = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert ISO_Z.match((await (await client.get("/api/v1/me", headers=me)).json())["created_at"])
    users = await (await client.get("/api/v1/users", headers=admin)).json()
    assert all(ISO_Z.match(u["created_at"]) for u in users["items"])
    playlist = await (await client.post("/api/v1/playlists", json={"name": "p"}, headers=me)).json()
    assert ISO_Z.match(playlist["created_at"]) and ISO_Z.match(playlist["updated_at"])
    listed = await (await client.get("/api/v1/playlists", headers=me)).json()
    assert all(ISO_Z.match(p["updated_at"]) for p in listed["items"])
    _, artist = await signed_in(client, "artist")
    await make_track(client, artist, seconds=1)
    jobs = await (await client.get("/api/v1/jobs", headers=admin)).json()
    assert jobs["items"] and all(
        ISO_Z.match(j["created_at"]) and ISO_Z.match(j["updated_at"]) for j in jobs["items"]
    )


async def test_the_same_file_twice_is_refused_unless_asked(client, tmp_path):
    _, h = await signed_in(client, "artist")
    _, other = await signed_in(client, "artist")
    path = make_audio(tmp_path / "same.mp3", "mp3", 1.0)
    status, first = await upload_file(client, h, path)
    assert status == 202
    status, body = await upload_file(client, h, path)
    assert status == 409 and error_code(body) == "duplicate_upload"
    assert body["error"]["details"]["track_id"] == first["id"]
    assert list(client.app[keys.SETTINGS].tmp_dir.iterdir()) == []
    status, second = await upload_file(client, h, path, fields={"allow_duplicate": "true"})
    assert status == 202 and second["id"] != first["id"]
    # Another user's copy of the same file is theirs to upload.
    status, _ = await upload_file(client, other, path)
    assert status == 202


async def test_a_failed_upload_leaves_no_artist_or_album_behind(client, tmp_path):
    """The service is built with a job queue that refuses (as a Redis that is down would): the upload
    fails after its artist and album were resolved, and takes them away again."""
    import hashlib
    import shutil

    from server.auth.service import Principal
    from server.catalog.ingest import IngestService
    from server.catalog.upload import ReceivedUpload

    user, h = await signed_in(client, "artist")
    principal = Principal(user["_id"], user["username"], frozenset({"artist"}), "login", "token")

    async def queue_down(track_id: str) -> None:
        raise ConnectionError("job queue unavailable")

    ingest = IngestService(client.app[keys.CATALOG], lambda: queue_down)
    source = make_audio(tmp_path / "x.mp3", "mp3", 1.0, tags={"artist": "Ghost Act", "album": "Nothing"})
    temp = client.app[keys.SETTINGS].tmp_dir / "upload-test.part"
    temp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, temp)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    upload = ReceivedUpload(path=temp, size=temp.stat().st_size, sha256=digest, filename="x.mp3")
    with pytest.raises(ConnectionError):
        await ingest.ingest(principal, upload)
    assert (await (await client.get("/api/v1/artists", headers=h)).json())["total"] == 0
    assert (await (await client.get("/api/v1/albums", headers=h)).json())["total"] == 0
    assert (await (await client.get("/api/v1/tracks", headers=h)).json())["total"] == 0
    assert not temp.exists()


async def test_a_probe_that_times_out_is_our_failure_not_the_users_file(tmp_path):
    """An ffprobe that hangs (here a stand-in that sleeps; a machine under load looks the same) gives a
    503 to retry later, never a 422 blaming the file."""
    import os

    from media.errors import ToolTimedOut
    from media.ffmpeg import probe
    from server.errors import from_shared_error

    hung = tmp_path / "ffprobe"
    hung.write_text("#!/bin/sh\nexec sleep 30\n")
    os.chmod(hung, 0o755)
    audio = make_audio(tmp_path / "fine.mp3", "mp3", 1.0)
    with pytest.raises(ToolTimedOut) as caught:
        await probe(audio, timeout=0.5, binary=str(hung))
    err = from_shared_error(caught.value)
    assert err.status == 503 and err.code == "service_unavailable" and err.headers["Retry-After"]


async def test_a_probe_that_spends_its_budget_working_blames_the_file(tmp_path):
    """An ffprobe busy on the CPU for its whole time (here a stand-in that spins; a pathological file
    looks the same) answers 422 ``file_too_complex``: retrying would burn another core for nothing."""
    import os
    import sys

    from media.errors import FileTooComplex
    from media.ffmpeg import probe
    from server.errors import from_shared_error

    spinning = tmp_path / "ffprobe"
    spinning.write_text(f"#!{sys.executable}\nwhile True:\n    pass\n")
    os.chmod(spinning, 0o755)
    audio = make_audio(tmp_path / "fine.mp3", "mp3", 1.0)
    with pytest.raises(FileTooComplex) as caught:
        # 4 s: at least a second of CPU even with two busy processes beside it on two cores.
        await probe(audio, timeout=4.0, binary=str(spinning))
    err = from_shared_error(caught.value)
    assert err.status == 422 and err.code == "file_too_complex"
