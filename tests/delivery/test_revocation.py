"""Signed media URLs stop working after sign-out, disable or deletion - in every process sharing Redis,
on the segment lane as on aiohttp's routes - while everyone else's keep playing."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from server.app import create_app
from tests.helpers import bearer, login, make_track, make_user, signed_in, wait_for_track
from tests.lane_server import LaneTestServer


async def media_paths(client, headers: dict[str, str], track_id: str) -> list[str]:
    """Paths of the track's signed master playlist, its first rung's playlist and first segment."""
    resp = await client.get(f"/api/v1/tracks/{track_id}/media", headers=headers)
    assert resp.status == 200, await resp.text()
    master = urlsplit((await resp.json())["hls_url"]).path
    base = master.rsplit("/", 1)[0]
    text = await (await client.get(master)).text()
    rung = next(line for line in text.splitlines() if line and not line.startswith("#"))
    index = f"{base}/{rung}"
    text = await (await client.get(index)).text()
    segment = next(line for line in text.splitlines() if line and not line.startswith("#"))
    return [master, index, f"{index.rsplit('/', 1)[0]}/{segment}"]


async def statuses(client, paths: list[str]) -> list[int]:
    return [(await client.get(path)).status for path in paths]


async def until_refused(client, paths: list[str], within: float = 60.0) -> None:
    """Every path answers 403 within ``within`` seconds (the bound the revocation list promises)."""
    deadline = asyncio.get_running_loop().time() + within
    while (got := await statuses(client, paths)) != [403] * len(paths):
        assert asyncio.get_running_loop().time() < deadline, f"still served after {within} s: {got}"
        await asyncio.sleep(0.2)


async def test_sign_out_disable_and_delete_revoke_media_urls_in_every_process(aiohttp_client, settings):
    first = await aiohttp_client(LaneTestServer(create_app(settings)))
    second = await aiohttp_client(LaneTestServer(create_app(settings)))  # another process, one Redis
    _, artist = await signed_in(first, "artist")
    made = await make_track(first, artist, "mp3", seconds=3)
    track_id = (await wait_for_track(first, artist, made["id"]))["id"]
    _, admin = await signed_in(first, "admin")

    signing_out = await make_user(first.app, "listener")
    two_logins = [bearer(await login(first, signing_out["username"])) for _ in range(2)]
    disabled, disabled_h = await signed_in(first, "listener")
    deleted, deleted_h = await signed_in(first, "listener")
    _, bystander = await signed_in(first, "listener")

    gone = await media_paths(first, two_logins[0], track_id)
    kept_login = await media_paths(first, two_logins[1], track_id)
    of_disabled = await media_paths(first, disabled_h, track_id)
    of_deleted = await media_paths(first, deleted_h, track_id)
    of_bystander = await media_paths(first, bystander, track_id)
    for client in (first, second):
        for paths in (gone, kept_login, of_disabled, of_deleted, of_bystander):
            assert await statuses(client, paths) == [200, 200, 200]

    assert (await first.post("/api/v1/auth/logout", headers=two_logins[0])).status == 204
    resp = await first.patch(f"/api/v1/users/{disabled['_id']}", json={"disabled": True}, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await first.delete(f"/api/v1/users/{deleted['_id']}", headers=admin)).status == 204

    for client in (first, second):
        for paths in (gone, of_disabled, of_deleted):
            await until_refused(client, paths)
        resp = await client.get(gone[0])
        assert (await resp.json())["error"]["code"] == "media_url_revoked"
        # The same user's other sign-in, and everyone else, play on.
        assert await statuses(client, kept_login) == [200, 200, 200]
        assert await statuses(client, of_bystander) == [200, 200, 200]


async def test_a_process_started_after_a_revocation_knows_it(aiohttp_client, settings):
    first = await aiohttp_client(LaneTestServer(create_app(settings)))
    _, artist = await signed_in(first, "artist")
    made = await make_track(first, artist, "mp3", seconds=3)
    track_id = (await wait_for_track(first, artist, made["id"]))["id"]
    _, listener = await signed_in(first, "listener")
    paths = await media_paths(first, listener, track_id)
    assert (await first.post("/api/v1/auth/logout", headers=listener)).status == 204
    later = await aiohttp_client(LaneTestServer(create_app(settings)))
    await until_refused(later, paths)
