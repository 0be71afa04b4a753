"""Track reads and writes: visibility, filters, sorting, paging, permissions, the cache, deletion."""

from __future__ import annotations

import asyncio

from server import keys
from tests.audio import make_audio, make_jpeg
from tests.catalog.test_artists_albums import collect_events
from tests.helpers import error_code, make_track, signed_in, upload_file, wait_for_track


async def _ready(client, track_id: str, **changes) -> None:
    """What the worker would write when a transcode finishes."""
    await client.app[keys.TRACKS].update(track_id, {"status": "ready", "progress": 100, **changes})


async def test_listing_filters_sorts_pages_and_hides_unready_tracks(client):
    alice, alice_h = await signed_in(client, "artist")
    _, bob_h = await signed_in(client, "artist")
    _, listener_h = await signed_in(client)
    _, admin_h = await signed_in(client, "admin")
    made = []
    for title, genre in (("delta", "Rock"), ("Alpha", "rock"), ("charlie", "Jazz"), ("Bravo", "Rock")):
        made.append(
            await make_track(
                client, alice_h, "mp3", seconds=1, tags={"title": title, "artist": "Quartet", "genre": genre}
            )
        )
    hidden = await make_track(client, bob_h, "mp3", seconds=1, tags={"title": "echo", "artist": "Solo"})
    # Failed rather than left processing: the in-process transcoder would soon make it ready.
    await client.app[keys.TRACKS].update(hidden["id"], {"status": "failed", "error": "test"})
    for i, track in enumerate(made):
        await _ready(client, track["id"], play_count=i * 10)

    async def listing(headers, query=""):
        resp = await client.get(f"/api/v1/tracks{query}", headers=headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    everyone = await listing(listener_h, "?sort=title")
    assert everyone["total"] == 4
    assert [t["title"] for t in everyone["items"]] == ["Alpha", "Bravo", "charlie", "delta"]
    assert hidden["id"] not in {t["id"] for t in everyone["items"]}
    # Bob sees his own processing track too; admins see all.
    assert (await listing(bob_h))["total"] == 5
    assert (await listing(admin_h, "?status=failed"))["total"] == 1
    assert (await listing(listener_h, "?status=failed"))["total"] == 0

    page = await listing(listener_h, "?sort=-title&limit=2&offset=1")
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 1
    assert [t["title"] for t in page["items"]] == ["charlie", "Bravo"]
    rock = await listing(listener_h, "?genre=ROCK&sort=-play_count")
    assert [t["title"] for t in rock["items"]] == ["Bravo", "Alpha", "delta"]
    by_artist = await listing(listener_h, f"?artist_id={made[0]['artist_id']}&sort=created_at")
    assert [t["id"] for t in by_artist["items"]] == [t["id"] for t in made]
    assert all(t["artist_name"] == "Quartet" for t in by_artist["items"])

    resp = await client.get("/api/v1/tracks?sort=loudness&limit=0", headers=listener_h)
    fields = (await resp.json())["error"]["details"]["fields"]
    assert resp.status == 400 and {"sort", "limit"} <= set(fields)

    # A track that is not ready is invisible to others: 404, not 403, so it does not leak.
    assert (await client.get(f"/api/v1/tracks/{hidden['id']}", headers=listener_h)).status == 404
    assert (await client.get(f"/api/v1/tracks/{hidden['id']}", headers=bob_h)).status == 200
    assert alice["_id"] == made[0]["owner_id"]


async def test_only_the_uploader_or_an_admin_edits_a_track(client):
    events = collect_events(client.app)
    _, alice_h = await signed_in(client, "artist")
    _, bob_h = await signed_in(client, "artist")
    _, listener_h = await signed_in(client)
    _, admin_h = await signed_in(client, "admin")
    track = await make_track(client, alice_h, "mp3", seconds=1, tags={"title": "Old", "artist": "Alice"})
    await _ready(client, track["id"])
    url = f"/api/v1/tracks/{track['id']}"

    assert (await client.patch(url, json={"title": "Bob's"}, headers=bob_h)).status == 403
    assert (await client.patch(url, json={"title": "x"}, headers=listener_h)).status == 403
    resp = await client.patch(
        url, json={"title": "  New\u0000 title ", "genre": "Ambient", "track_no": 4}, headers=alice_h
    )
    assert resp.status == 200
    body = await resp.json()
    assert (body["title"], body["genre"], body["track_no"]) == ("New title", "Ambient", 4)
    assert ("library", {"kind": "track", "id": track["id"], "action": "updated"}, None) in events
    resp = await client.patch(url, json={"genre": None, "unknown": 1}, headers=alice_h)
    assert resp.status == 400 and "unknown" in (await resp.json())["error"]["details"]["fields"]
    resp = await client.patch(url, json={"title": None}, headers=alice_h)
    assert resp.status == 400
    resp = await client.patch(url, json={"genre": None}, headers=admin_h)
    assert resp.status == 200 and (await resp.json())["genre"] is None

    other = await client.post("/api/v1/artists", json={"name": "Someone Else"}, headers=bob_h)
    album = await client.post(
        "/api/v1/albums", json={"title": "Theirs", "artist_id": (await other.json())["id"]}, headers=bob_h
    )
    resp = await client.patch(url, json={"album_id": (await album.json())["id"]}, headers=alice_h)
    assert resp.status == 400 and error_code(await resp.json()) == "album_artist_mismatch"


async def test_reads_come_from_the_cache_until_a_write_invalidates_it(client):
    _, h = await signed_in(client, "artist")
    track = await make_track(client, h, "mp3", seconds=1, tags={"title": "Cached"})
    await _ready(client, track["id"])
    url = f"/api/v1/tracks/{track['id']}"
    assert (await (await client.get(url, headers=h)).json())["title"] == "Cached"
    settings = client.app[keys.SETTINGS]
    assert await client.app[keys.REDIS].exists(f"{settings.redis_prefix}cache:track:{track['id']}")

    # Written behind the cache's back (no invalidation): the cached copy is still served...
    db_tracks = client.app[keys.DB]["tracks"]
    await db_tracks.update_one({"_id": track["id"]}, {"$set": {"title": "Sneaky"}})
    assert (await (await client.get(url, headers=h)).json())["title"] == "Cached"
    # ...and an API write replaces it at once.
    await client.patch(url, json={"genre": "Pop"}, headers=h)
    body = await (await client.get(url, headers=h)).json()
    assert (body["title"], body["genre"]) == ("Sneaky", "Pop")


async def test_processing_tracks_are_never_cached(client):
    user, h = await signed_in(client, "artist")
    artist = await (await client.post("/api/v1/artists", json={"name": "Waiting"}, headers=h)).json()
    # Inserted directly, with no job: it stays processing for as long as the test needs.
    doc = await client.app[keys.TRACKS].insert(
        {"title": "Pending", "artist_id": artist["id"], "owner_id": user["_id"]}
    )
    resp = await client.get(f"/api/v1/tracks/{doc.id}", headers=h)
    assert resp.status == 200 and (await resp.json())["status"] == "processing"
    settings = client.app[keys.SETTINGS]
    assert not await client.app[keys.REDIS].exists(f"{settings.redis_prefix}cache:track:{doc.id}")


async def test_deleting_a_track_removes_every_file_it_had(client, tmp_path):
    events = collect_events(client.app)
    _, h = await signed_in(client, "artist")
    _, other_h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "covered.flac", "flac", 2.0, tags={"title": "Doomed"}, cover=make_jpeg())
    status, track = await upload_file(client, h, path)
    assert status == 202, track
    track = await wait_for_track(client, h, track["id"])
    assert track["status"] == "ready", track["error"]
    layout = client.app[keys.CATALOG].layout
    assert layout.find_original(track["id"]) is not None
    assert layout.master_playlist(track["id"]).is_file() and layout.cover_path(track["id"]).is_file()

    resp = await client.get(track["cover_url"], headers=other_h)
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert (await resp.read()).startswith(b"\xff\xd8")

    assert (await client.delete(f"/api/v1/tracks/{track['id']}", headers=other_h)).status == 403
    assert (await client.delete(f"/api/v1/tracks/{track['id']}", headers=h)).status == 204
    assert not layout.original_dir(track["id"]).exists()
    assert not layout.hls_dir(track["id"]).exists()
    assert not layout.cover_path(track["id"]).exists()
    assert (await client.get(f"/api/v1/tracks/{track['id']}", headers=h)).status == 404
    assert ("library", {"kind": "track", "id": track["id"], "action": "deleted"}, None) in events
    assert (await client.delete(f"/api/v1/tracks/{track['id']}", headers=h)).status == 404


async def test_deleting_a_track_while_it_transcodes_leaves_nothing_behind(client):
    _, h = await signed_in(client, "artist")
    track = await make_track(client, h, "flac", seconds=4)
    assert (await client.delete(f"/api/v1/tracks/{track['id']}", headers=h)).status == 204
    jobs = client.app[keys.JOBS].jobs
    for _ in range(600):  # until the transcoder has given the job up or finished it
        if await jobs.live_for_track(track["id"]) is None:
            break
        await asyncio.sleep(0.05)
    assert await jobs.live_for_track(track["id"]) is None
    media = client.app[keys.SETTINGS].media_dir
    assert [p for p in media.rglob("*") if track["id"] in p.name] == []
