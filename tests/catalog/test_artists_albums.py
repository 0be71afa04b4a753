"""Artists and albums: ownership, conflicts, the album view, library events."""

from __future__ import annotations

from server import keys
from tests.helpers import error_code, make_track, signed_in


def collect_events(app):
    seen: list[tuple[str, dict, str | None]] = []

    async def listener(event, payload, user_id):
        seen.append((event, payload, user_id))

    app[keys.EVENTS].subscribe(listener)
    return seen


async def test_artists_own_what_they_create(client):
    events = collect_events(client.app)
    alice, alice_h = await signed_in(client, "artist")
    _, bob_h = await signed_in(client, "artist")
    _, listener_h = await signed_in(client)
    _, admin_h = await signed_in(client, "admin")

    resp = await client.post(
        "/api/v1/artists", json={"name": "  The   Cure ", "bio": "Goth"}, headers=alice_h
    )
    assert resp.status == 201
    artist = await resp.json()
    assert artist["name"] == "The Cure" and artist["owner_ids"] == [alice["_id"]]
    assert artist["created_at"].endswith("Z")
    assert ("library", {"kind": "artist", "id": artist["id"], "action": "created"}, None) in events

    resp = await client.post("/api/v1/artists", json={"name": "the cure"}, headers=bob_h)
    assert resp.status == 409 and error_code(await resp.json()) == "artist_exists"
    resp = await client.post("/api/v1/artists", json={"name": "Nope"}, headers=listener_h)
    assert resp.status == 403
    resp = await client.post("/api/v1/artists", json={"name": " \u202e\t "}, headers=alice_h)
    assert resp.status == 400 and "name" in (await resp.json())["error"]["details"]["fields"]

    resp = await client.patch(f"/api/v1/artists/{artist['id']}", json={"bio": "x"}, headers=bob_h)
    assert resp.status == 403
    resp = await client.patch(f"/api/v1/artists/{artist['id']}", json={"name": "Cure"}, headers=alice_h)
    assert resp.status == 200 and (await resp.json())["name"] == "Cure"
    # The read after the write must not come from a stale cache entry.
    resp = await client.get(f"/api/v1/artists/{artist['id']}", headers=listener_h)
    assert (await resp.json())["name"] == "Cure"
    resp = await client.patch(
        f"/api/v1/artists/{artist['id']}", json={"bio": "admin was here"}, headers=admin_h
    )
    assert resp.status == 200

    resp = await client.get("/api/v1/artists?q=cu&limit=1", headers=listener_h)
    listing = await resp.json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == artist["id"]
    resp = await client.get("/api/v1/artists?mine=true", headers=bob_h)
    assert (await resp.json())["total"] == 0

    resp = await client.delete(f"/api/v1/artists/{artist['id']}", headers=bob_h)
    assert resp.status == 403
    resp = await client.delete(f"/api/v1/artists/{artist['id']}", headers=alice_h)
    assert resp.status == 204
    assert (await client.get(f"/api/v1/artists/{artist['id']}", headers=alice_h)).status == 404
    assert ("library", {"kind": "artist", "id": artist["id"], "action": "deleted"}, None) in events


async def test_artist_with_tracks_cannot_be_deleted(client):
    _, h = await signed_in(client, "artist")
    track = await make_track(client, h, "mp3", seconds=1, tags={"artist": "Busy"})
    resp = await client.delete(f"/api/v1/artists/{track['artist_id']}", headers=h)
    assert resp.status == 409 and error_code(await resp.json()) == "artist_not_empty"


async def test_album_view_embeds_artist_and_visible_tracks_in_order(client):
    artist_user, h = await signed_in(client, "artist")
    _, listener_h = await signed_in(client)
    _, other_h = await signed_in(client, "artist")
    second = await make_track(
        client, h, "mp3", seconds=1, tags={"title": "B side", "artist": "Duo", "album": "Split", "track": "2"}
    )
    first = await make_track(
        client, h, "mp3", seconds=1, tags={"title": "A side", "artist": "Duo", "album": "Split", "track": "1"}
    )
    assert first["album_id"] == second["album_id"]
    album_id = first["album_id"]
    tracks = client.app[keys.TRACKS]
    await tracks.update(first["id"], {"status": "ready"})
    await tracks.update(second["id"], {"status": "failed", "error": "boom"})

    resp = await client.get(f"/api/v1/albums/{album_id}", headers=h)
    album = await resp.json()
    assert album["artist"]["name"] == "Duo" and album["artist_name"] == "Duo"
    assert [t["title"] for t in album["tracks"]] == ["A side", "B side"]
    # A listener sees only the ready one.
    resp = await client.get(f"/api/v1/albums/{album_id}", headers=listener_h)
    assert [t["id"] for t in (await resp.json())["tracks"]] == [first["id"]]

    resp = await client.get(f"/api/v1/albums?artist_id={first['artist_id']}", headers=listener_h)
    listing = await resp.json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == album_id

    resp = await client.patch(f"/api/v1/albums/{album_id}", json={"title": "Nope"}, headers=other_h)
    assert resp.status == 403
    resp = await client.post(
        "/api/v1/albums", json={"title": "Mine", "artist_id": first["artist_id"]}, headers=other_h
    )
    assert resp.status == 403
    resp = await client.post(
        "/api/v1/albums", json={"title": "split", "artist_id": first["artist_id"]}, headers=h
    )
    assert resp.status == 409 and error_code(await resp.json()) == "album_exists"
    resp = await client.post(
        "/api/v1/albums",
        json={"title": "Live", "artist_id": first["artist_id"], "release_year": 1999},
        headers=h,
    )
    assert resp.status == 201 and (await resp.json())["owner_ids"] == [artist_user["_id"]]

    # Deleting the album keeps its tracks, without an album.
    assert (await client.delete(f"/api/v1/albums/{album_id}", headers=h)).status == 204
    resp = await client.get(f"/api/v1/tracks/{first['id']}", headers=h)
    track = await resp.json()
    assert track["album_id"] is None and track["album_title"] is None
    assert (await client.get(f"/api/v1/albums/{album_id}", headers=h)).status == 404
