"""Failed logins from one client are rate limited with Retry-After."""

from __future__ import annotations

import dataclasses

import pytest

from server.app import create_app
from server.settings import RateLimits
from tests.helpers import error_code, make_user
from tests.subsonic.conftest import app_account, token_auth


async def test_forty_failed_logins_in_a_row_give_429(client):
    user = await make_user(client.app)
    statuses = []
    for i in range(40):
        # Different usernames too, so the per-address limit is what stops this client.
        name = user["username"] if i % 2 else f"guess{i}"
        resp = await client.post("/api/v1/auth/login", json={"username": name, "password": "wrong-password"})
        statuses.append(resp.status)
        if resp.status == 429:
            body = await resp.json()
            assert error_code(body) == "rate_limited"
            retry_after = int(resp.headers["Retry-After"])
            # A sliding window can need a little more than one window to free a slot (README).
            assert 1 <= retry_after <= 120
    assert statuses[0] == 401
    assert statuses[-1] == 429
    assert set(statuses) == {401, 429}


@pytest.fixture
def app(settings):
    limits = RateLimits(api_per_client=(5, 60), subsonic_per_client=(4, 60))
    return create_app(dataclasses.replace(settings, rate_limits=limits))


async def test_general_api_limit_per_client(client):
    statuses = [(await client.get("/api/v1/openapi.json")).status for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    # Health checks are not under /api and never limited.
    assert (await client.get("/healthz")).status == 200


async def test_subsonic_calls_have_a_limit_of_their_own_and_media_is_not_counted(client):
    """/rest answers over its limit with the Subsonic error envelope, 429 and Retry-After; the web
    API keeps its own budget; files (covers here) are not counted."""
    account = await app_account(client, "listener")
    auth = {**token_auth(account), "v": "1.16.1", "c": "test", "f": "json"}
    statuses, bodies = [], []
    for _ in range(5):
        resp = await client.get("/rest/getMusicFolders", params=auth)
        statuses.append(resp.status)
        bodies.append((await resp.json())["subsonic-response"])
    assert statuses == [200, 200, 200, 200, 429]
    assert bodies[0]["status"] == "ok" and bodies[-1]["status"] == "failed"
    assert bodies[-1]["error"]["code"] == 0 and "Too many requests" in bodies[-1]["error"]["message"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 120
    assert (await client.get("/api/v1/me", headers=account.headers)).status == 200
    cover = await client.get("/rest/getCoverArt", params={**auth, "id": "no-such-id"})
    assert cover.status != 429
