"""Cursor paging of catalog listings: every sort, walked page by page, gives the offset listing's order."""

from __future__ import annotations

import random

from server import keys
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import ArtistStore
from server.catalog.store import TrackStore
from tests.helpers import error_code, signed_in

TRACK_SORTS = ["title", "created_at", "play_count", "duration_ms", "release_year", "track_no"]


async def _seed(client, rng: random.Random, owner_id: str) -> None:
    db = client.app[keys.DB]
    artists = [ArtistStore._new(f"Artist {n}", None, []) for n in range(3)]
    await db["artists"].insert_many(artists)
    albums = [
        AlbumStore._new(f"Album {n}", artists[n % 3]["_id"], rng.choice([None, 1999, 2001]), [])
        for n in range(4)
    ]
    await db["albums"].insert_many(albums)
    docs = []
    for n in range(23):
        album = albums[n % 4]
        docs.append(
            TrackStore.new_document(
                {
                    "title": rng.choice(["Ärger", "arbor", "Blue", "blue", "Cold"]) + f" {n % 5}",
                    "artist_id": album["artist_id"],
                    "album_id": album["_id"],
                    "owner_id": owner_id,
                    # Ties and nulls on purpose: the cursor must break them as the offset order does.
                    "status": rng.choice(["ready", "ready", "ready", "failed"]),
                    "play_count": rng.choice([0, 0, 3, 7]),
                    "duration_ms": rng.choice([None, 120_000, 180_000]),
                    "release_year": album["release_year"],
                    "track_no": rng.choice([None, 1, 2]),
                }
            )
        )
    await client.app[keys.TRACKS].insert_many(docs)


async def _walk(client, headers, path: str, query: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        resp = await client.get(
            f"{path}?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""), headers=headers
        )
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ended")


async def test_cursor_pages_follow_the_offset_order_in_every_sort(client):
    _, artist_h = await signed_in(client, "artist")
    _, listener_h = await signed_in(client)
    _, admin_h = await signed_in(client, "admin")
    await _seed(client, random.Random(7), "nobody")
    for headers in (listener_h, admin_h):
        for field in TRACK_SORTS:
            for sort in (field, f"-{field}"):
                whole = await client.get(f"/api/v1/tracks?sort={sort}&limit=200", headers=headers)
                expected = [t["id"] for t in (await whole.json())["items"]]
                assert await _walk(client, headers, "/api/v1/tracks", f"sort={sort}", 4) == expected, sort
    for sort in ("title", "-title", "release_year", "-release_year", "created_at", "-created_at"):
        whole = await client.get(f"/api/v1/albums?sort={sort}&limit=200", headers=listener_h)
        expected = [a["id"] for a in (await whole.json())["items"]]
        assert len(expected) == 4
        assert await _walk(client, listener_h, "/api/v1/albums", f"sort={sort}", 1) == expected, sort
    for sort in ("name", "-name", "created_at", "-created_at"):
        whole = await client.get(f"/api/v1/artists?sort={sort}&limit=200", headers=artist_h)
        expected = [a["id"] for a in (await whole.json())["items"]]
        assert await _walk(client, artist_h, "/api/v1/artists", f"sort={sort}", 2) == expected, sort


async def test_a_cursor_is_checked(client):
    _, headers = await signed_in(client)
    await _seed(client, random.Random(8), "nobody")
    first = await (await client.get("/api/v1/tracks?sort=title&limit=2", headers=headers)).json()
    cursor = first["next_cursor"]
    assert cursor and first["total"] > 2
    for query, reason in (
        (f"sort=-title&cursor={cursor}", "another sort"),
        (f"sort=title&cursor={cursor}&offset=2", "both"),
        ("sort=title&cursor=bm90IGpzb24", "not a cursor"),
        ("sort=title&cursor=%25%25", "not base64"),
    ):
        resp = await client.get(f"/api/v1/tracks?{query}", headers=headers)
        assert resp.status == 400, reason
        assert error_code(await resp.json()) == "invalid_input", reason
