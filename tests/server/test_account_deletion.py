"""Deleting an account removes everything it owns, in every collection and every Redis key family."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from server import keys
from tests.helpers import PASSWORD, make_track, signed_in, wait_for_track
from tests.realtime.sockets import Device, server_url
from tests.subsonic.conftest import app_account, py_sonic, token_auth

LEFT_ON_PURPOSE = {"media:revoked:users"}
"""Keys that may name a deleted user: the revocation of their media URLs (it expires with them)."""
SHORT_LIVED = 3600
"""Rate-limit windows and sign-in tombstones may name them until they expire, within this many seconds."""


def _mentions(value: Any, user_id: str) -> bool:
    if isinstance(value, dict):
        return any(_mentions(v, user_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, user_id) for v in value)
    return value == user_id


async def _holds(redis, key: str, user_id: str) -> bool:
    """Whether the value of ``key`` names the user (a set member, a string, a hash value)."""
    kind = await redis.type(key)
    if kind == b"zset":
        return await redis.zscore(key, user_id) is not None
    if kind == b"string":
        return user_id.encode() in (await redis.get(key) or b"")
    if kind == b"hash":
        return any(user_id.encode() in v for v in (await redis.hgetall(key)).values())
    return False


async def _everything_naming(client, user_id: str) -> tuple[dict[str, int], list[str]]:
    """(documents per collection that hold the id anywhere, Redis keys of the test naming it)."""
    db = client.app[keys.DB]
    docs = {}
    for name in await db.list_collection_names():
        found = [d for d in await db[name].find({}).to_list(None) if _mentions(d, user_id)]
        if found:
            docs[name] = len(found)
    redis, prefix = client.app[keys.REDIS], client.app[keys.SETTINGS].redis_prefix
    named = []
    async for raw in redis.scan_iter(match=f"{prefix}*", count=1000):
        key = raw.decode()
        family = key.removeprefix(prefix)
        if user_id in family or await _holds(redis, key, user_id):
            named.append(family)
    return docs, named


async def test_deleting_a_user_removes_everything_they_own(client):
    artist = await app_account(client, "artist")
    made = await make_track(client, artist.headers, "mp3", seconds=2, fields={"title": "Keep Me"})
    track_id = (await wait_for_track(client, artist.headers, made["id"]))["id"]

    # A listener with one of each: tokens, a web session, an app password, a playlist, history,
    # playback state, a connected device, a saved play queue, a star and a rating.
    account = await app_account(client, "listener")
    user_id, headers = account.user["_id"], account.headers
    session = aiohttp.ClientSession(base_url=str(client.make_url("/")))
    resp = await session.post(
        "/api/v1/auth/session", json={"username": account.username, "password": PASSWORD}
    )
    assert resp.status == 200, await resp.text()
    resp = await client.post("/api/v1/playlists", json={"name": "Mine", "is_public": True}, headers=headers)
    playlist_id = (await resp.json())["id"]
    resp = await client.post(
        f"/api/v1/playlists/{playlist_id}/tracks", json={"track_ids": [track_id]}, headers=headers
    )
    assert resp.status == 200
    token = headers["Authorization"].removeprefix("Bearer ")
    device = await Device().connect(server_url(client), token=token, device_id="phone")
    resp = await client.post(
        "/api/v1/playback/play", json={"track_id": track_id, "device_id": "phone"}, headers=headers
    )
    assert resp.status == 200
    conn = py_sonic(client, account)
    await asyncio.to_thread(conn.star, sids=[track_id])
    await asyncio.to_thread(conn.setRating, track_id, 4)
    await asyncio.to_thread(conn.savePlayQueue, [track_id], current=track_id, position=100)
    docs, named = await _everything_naming(client, user_id)
    assert {"users", "logins", "app_passwords", "playlists", "play_history", "annotations"} <= set(docs)
    families = {name.split(":")[0] for name in named}
    assert {"playback", "devices", "presence", "playqueue", "user"} <= families, named

    _, admin_h = await signed_in(client, "admin")
    assert (await client.delete(f"/api/v1/users/{user_id}", headers=admin_h)).status == 204

    docs, named = await _everything_naming(client, user_id)
    assert docs == {}, docs
    redis, prefix = client.app[keys.REDIS], client.app[keys.SETTINGS].redis_prefix
    for family in named:
        if family in LEFT_ON_PURPOSE:
            continue
        ttl = await redis.ttl(prefix + family)
        assert family.startswith(("rl:", "login:")) and 0 < ttl <= SHORT_LIVED, (family, ttl)
    # Nothing they held works any more; their upload-free catalog is untouched.
    assert (await client.get("/api/v1/me", headers=headers)).status == 401
    assert (await session.get("/api/v1/auth/session")).status == 401
    ping = await client.get(
        "/rest/ping", params={**token_auth(account), "v": "1.16.1", "c": "t", "f": "json"}
    )
    assert (await ping.json())["subsonic-response"]["error"]["code"] == 40
    # A connected device of theirs is refused (the acknowledgement says why, when it gets there before
    # the connection closes) and then disconnected by the server.
    await device.sio.emit("playback:command", {"action": "pause"})
    await asyncio.wait_for(device.sio.wait(), 10)
    assert (await client.get(f"/api/v1/tracks/{track_id}", headers=artist.headers)).status == 200
    await session.close()
