"""Failed logins from one client are rate limited with Retry-After."""

from __future__ import annotations

import dataclasses

import pytest

from server.app import create_app
from server.settings import RateLimits
from tests.helpers import error_code, make_user


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
    limits = RateLimits(api_per_client=(5, 60))
    return create_app(dataclasses.replace(settings, rate_limits=limits))


async def test_general_api_limit_per_client(client):
    statuses = [(await client.get("/api/v1/openapi.json")).status for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    # Health checks are not under /api and never limited.
    assert (await client.get("/healthz")).status == 200
