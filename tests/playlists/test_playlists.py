"""Playlists through the API: every operation, privacy, concurrency, deleted tracks, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server import keys
from tests.helpers import error_code, signed_in
from tests.search.catalog_docs import Catalog


async def _tracks(client: TestClient, n: int) -> list[str]:
    cat = Catalog(client.app)
    return [
        (await cat.track(f"Song {i}", "Band", genre="Rock", duration_ms=1000 * (i + 1)))["_id"]
        for i in range(n)
    ]


async def _create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/playlists", json={"name": "Mix", **body}, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


def _ids(playlist: dict[str, Any]) -> list[str]:
    return [t["id"] for t in playlist["tracks"]]


async def test_create_read_rename_describe_delete(client: TestClient) -> None:
    user, headers = await signed_in(client)
    created = await _create(client, headers, description="for running")
    assert created["user_id"] == user["_id"]
    assert (created["name"], created["description"], created["is_public"]) == ("Mix", "for running", False)
    assert (created["tracks"], created["track_count"], created["duration_ms"]) == ([], 0, 0)
    url = f"/api/v1/playlists/{created['id']}"
    resp = await client.patch(
        url, json={"name": "  Run  ", "description": None, "is_public": True}, headers=headers
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["name"], body["description"], body["is_public"]) == ("Run", None, True)
    listing = await (await client.get("/api/v1/playlists", headers=headers)).json()
    assert [p["id"] for p in listing["items"]] == [created["id"]] and listing["total"] == 1
    assert (await client.delete(url, headers=headers)).status == 204
    assert (await client.get(url, headers=headers)).status == 404


async def test_add_remove_move_and_duplicates(client: TestClient) -> None:
    a, b, c, d = await _tracks(client, 4)
    _, headers = await signed_in(client)
    playlist = await _create(client, headers)
    url = f"/api/v1/playlists/{playlist['id']}"
    resp = await client.post(f"{url}/tracks", json={"track_ids": [a, b]}, headers=headers)
    body = await resp.json()
    assert resp.status == 200 and _ids(body) == [a, b]
    body = await (
        await client.post(f"{url}/tracks", json={"track_ids": [c], "position": 0}, headers=headers)
    ).json()
    assert _ids(body) == [c, a, b]
    body = await (
        await client.post(f"{url}/tracks", json={"track_ids": [d], "position": 2}, headers=headers)
    ).json()
    assert _ids(body) == [c, a, d, b]
    assert (body["track_count"], body["duration_ms"]) == (4, 1000 + 2000 + 3000 + 4000)
    # A duplicate is refused unless asked for explicitly.
    resp = await client.post(f"{url}/tracks", json={"track_ids": [a]}, headers=headers)
    assert resp.status == 409 and error_code(await resp.json()) == "duplicate_tracks"
    resp = await client.post(
        f"{url}/tracks", json={"track_ids": [a], "allow_duplicates": True}, headers=headers
    )
    assert _ids(await resp.json()) == [c, a, d, b, a]
    body = await (await client.delete(f"{url}/tracks/1", headers=headers)).json()
    assert _ids(body) == [c, d, b, a]
    body = await (await client.post(f"{url}/tracks/move", json={"from": 3, "to": 0}, headers=headers)).json()
    assert _ids(body) == [a, c, d, b]
    body = await (await client.post(f"{url}/tracks/move", json={"from": 0, "to": 3}, headers=headers)).json()
    assert _ids(body) == [c, d, b, a]
    # A stale version is refused rather than applied to a list the client has not seen.
    resp = await client.delete(
        f"{url}/tracks/0", params={"version": str(body["version"] - 1)}, headers=headers
    )
    assert resp.status == 409 and error_code(await resp.json()) == "playlist_changed"
    resp = await client.delete(f"{url}/tracks/0", params={"version": str(body["version"])}, headers=headers)
    assert resp.status == 200 and _ids(await resp.json()) == [d, b, a]


async def test_positions_out_of_range_and_bad_input(client: TestClient) -> None:
    (a,) = await _tracks(client, 1)
    _, headers = await signed_in(client)
    url = f"/api/v1/playlists/{(await _create(client, headers))['id']}"
    await client.post(f"{url}/tracks", json={"track_ids": [a]}, headers=headers)
    for method, path, body in (
        ("POST", "/tracks", {"track_ids": [a], "position": 5, "allow_duplicates": True}),
        ("DELETE", "/tracks/1", None),
        ("DELETE", "/tracks/-1", None),
        ("DELETE", "/tracks/x", None),
        ("POST", "/tracks/move", {"from": 0, "to": 1}),
        ("POST", "/tracks/move", {"from": 1, "to": 0}),
        ("POST", "/tracks/move", {"from": -1, "to": 0}),
        ("POST", "/tracks", {"track_ids": []}),
        ("POST", "/tracks", {"track_ids": ["nope"]}),
        ("PATCH", "", {"name": ""}),
        ("PATCH", "", {"colour": "red"}),
    ):
        resp = await client.request(method, url + path, json=body, headers=headers)
        assert resp.status == 400, (method, path, body, await resp.text())
        assert error_code(await resp.json()) in ("position_out_of_range", "invalid_input", "unknown_tracks")
    assert (await client.post("/api/v1/playlists", json={}, headers=headers)).status == 400
    assert (await client.get("/api/v1/playlists/doesnotexist", headers=headers)).status == 404


async def test_privacy(client: TestClient) -> None:
    (a,) = await _tracks(client, 1)
    owner, owner_headers = await signed_in(client)
    _, other = await signed_in(client)
    private = await _create(client, owner_headers, name="Secret")
    public = await _create(client, owner_headers, name="Shared", is_public=True)
    # Someone else's private playlist does not exist for you: 404, for reading and for editing.
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", ".m3u8")):
        resp = await client.request(
            method, f"/api/v1/playlists/{private['id']}{path}", json={}, headers=other
        )
        assert resp.status == 404, (method, path)
    # A public one can be read, but only its owner edits it: 403.
    assert (await client.get(f"/api/v1/playlists/{public['id']}", headers=other)).status == 200
    url = f"/api/v1/playlists/{public['id']}"
    for method, path, body in (
        ("PATCH", "", {"name": "Mine now"}),
        ("DELETE", "", None),
        ("POST", "/tracks", {"track_ids": [a]}),
        ("DELETE", "/tracks/0", None),
        ("POST", "/tracks/move", {"from": 0, "to": 0}),
    ):
        resp = await client.request(method, url + path, json=body, headers=other)
        assert resp.status == 403, (method, path)
        assert error_code(await resp.json()) == "not_playlist_owner"
    # Listing someone's playlists shows only the public ones.
    resp = await client.get("/api/v1/playlists", params={"user_id": owner["_id"]}, headers=other)
    assert [p["name"] for p in (await resp.json())["items"]] == ["Shared"]
    resp = await client.get("/api/v1/playlists", headers=owner_headers)
    assert {p["name"] for p in (await resp.json())["items"]} == {"Secret", "Shared"}
    assert (await client.get(f"/api/v1/playlists/{private['id']}")).status == 401


async def test_concurrent_adds_keep_both_tracks(client: TestClient) -> None:
    ids = await _tracks(client, 6)
    _, headers = await signed_in(client)
    url = f"/api/v1/playlists/{(await _create(client, headers))['id']}"
    responses = await asyncio.gather(
        *[client.post(f"{url}/tracks", json={"track_ids": [t], "position": 0}, headers=headers) for t in ids]
    )
    assert [r.status for r in responses] == [200] * 6
    body = await (await client.get(url, headers=headers)).json()
    assert sorted(_ids(body)) == sorted(ids)
    assert body["version"] == 6


async def test_track_deleted_from_catalog_disappears(client: TestClient) -> None:
    a, b, c = await _tracks(client, 3)
    _, headers = await signed_in(client)
    _, admin = await signed_in(client, "admin")
    playlist = await _create(client, headers)
    url = f"/api/v1/playlists/{playlist['id']}"
    await client.post(f"{url}/tracks", json={"track_ids": [a, b, c]}, headers=headers)
    # Through the catalog: the library event pulls it from every playlist.
    assert (await client.delete(f"/api/v1/tracks/{a}", headers=admin)).status == 204
    doc = await client.app[keys.DB]["playlists"].find_one({"_id": playlist["id"]})
    assert doc["track_ids"] == [b, c]
    # Deleted by another process (no event here): gone on the next read, and positions follow.
    await client.app[keys.DB]["tracks"].delete_one({"_id": b})
    body = await (await client.get(url, headers=headers)).json()
    assert _ids(body) == [c] and body["track_count"] == 1
    assert (await client.delete(f"{url}/tracks/1", headers=headers)).status == 400
    assert _ids(await (await client.delete(f"{url}/tracks/0", headers=headers)).json()) == []
