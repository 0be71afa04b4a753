"""Dependencies that go away and come back: 503 with Retry-After while down, never a 500 or a hang,
and service again once they are back; nothing lost."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from urllib.parse import urlsplit

import pytest

from server import keys
from server.app import create_app
from tests.faults import FaultyProxy
from tests.helpers import error_code, login, make_user

pytestmark = pytest.mark.timeout(180)


def _server_errors(metrics: str) -> int:
    """Answers with a status >= 500 other than 503 (the one a missing dependency is owed)."""
    total = 0
    for match in re.finditer(
        r'^hs_http_requests_total\{[^}]*status="(\d+)"[^}]*\} ([0-9.e+]+)$', metrics, re.M
    ):
        if int(match.group(1)) >= 500 and match.group(1) != "503":
            total += int(float(match.group(2)))
    return total


async def _until(check, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "did not recover in time"
        await asyncio.sleep(0.2)


async def _down_then_back(client, proxy: FaultyProxy, dependency: str, *, hang: bool = False) -> None:
    user = await make_user(client.app, "listener")
    headers = {"Authorization": f"Bearer {(await login(client, user['username']))['access_token']}"}
    resp = await client.post("/api/v1/playlists", json={"name": "before"}, headers=headers)
    assert resp.status == 201
    kept = (await resp.json())["id"]

    await (proxy.hang() if hang else proxy.cut())
    for method, path, body in (
        ("GET", "/api/v1/playlists", None),
        ("POST", "/api/v1/playlists", {"name": "during"}),
        ("POST", "/api/v1/auth/login", {"username": user["username"], "password": "x" * 12}),
    ):
        # A bound on the test only: the dependency timeout answers well before it.
        resp = await asyncio.wait_for(client.request(method, path, json=body, headers=headers), timeout=15)
        assert resp.status == 503, (path, resp.status, await resp.text())
        assert int(resp.headers["Retry-After"]) > 0
        assert error_code(await resp.json()) == "service_unavailable"
    readyz = await asyncio.wait_for(client.get("/readyz"), timeout=15)
    assert readyz.status == 503 and (await readyz.json())["checks"][dependency].startswith("down")
    assert (await client.get("/healthz")).status == 200

    await proxy.restore()

    async def serving() -> bool:
        resp = await client.get("/api/v1/playlists", headers=headers)
        return resp.status == 200

    await _until(serving)
    names = [
        p["name"] for p in (await (await client.get("/api/v1/playlists", headers=headers)).json())["items"]
    ]
    assert "before" in names and "during" not in names  # nothing lost, nothing half-written
    assert (await client.get(f"/api/v1/playlists/{kept}", headers=headers)).status == 200
    assert (await client.get("/readyz")).status == 200
    assert _server_errors(await (await client.get("/metrics")).text()) == 0


@pytest.mark.parametrize("hang", [False, True], ids=["down", "hung"])
async def test_redis_down_then_back(aiohttp_client, settings, redis_url, hang):
    target = urlsplit(redis_url)
    proxy = await FaultyProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    db = target.path or "/0"
    app = create_app(
        dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{proxy.port}{db}", dependency_timeout=1.0)
    )
    client = await aiohttp_client(app)
    try:
        await _down_then_back(client, proxy, "redis", hang=hang)
    finally:
        await proxy.close()


async def test_mongodb_protocol_server_down_then_back(aiohttp_client, settings, mongo_url):
    target = urlsplit(mongo_url)
    proxy = await FaultyProxy(target.hostname or "127.0.0.1", target.port or 27017).start()
    app = create_app(
        dataclasses.replace(settings, mongo_url=f"mongodb://127.0.0.1:{proxy.port}", dependency_timeout=1.0)
    )
    client = await aiohttp_client(app)
    try:
        await _down_then_back(client, proxy, "database")
    finally:
        await proxy.close()
    assert client.app[keys.SETTINGS].mongo_url
