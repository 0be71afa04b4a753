"""Liveness, readiness, metrics, and answering while passwords hash."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from server.app import create_app
from server.settings import RateLimits
from tests.helpers import PASSWORD, make_user


async def test_healthz_readyz_metrics(client):
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"] == {
        "database": "ok",
        "redis": "ok",
        "storage": "ok",
        "task:search-index": "ok",
        "task:job-sweeper": "ok",
        "task:device-presence": "ok",
        "task:media-revocations": "ok",
    }
    metrics = await (await client.get("/metrics")).text()
    assert 'hs_background_task_up{task="search-index"} 1.0' in metrics
    assert 'hs_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics
    assert "hs_http_request_duration_seconds_bucket" in metrics
    assert "X-Request-ID" in resp.headers and resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_unknown_route_answers_json_error(client):
    resp = await client.get("/api/v1/nope")
    assert resp.status == 404 and resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.put("/api/v1/auth/login", json={})
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"


@pytest.fixture
def app(settings):
    # Generous login limits: this test is about the event loop, not about rate limiting.
    limits = RateLimits(login_per_ip=(1000, 60), login_per_username=(1000, 60))
    return create_app(dataclasses.replace(settings, rate_limits=limits))


async def test_healthz_answers_while_twenty_logins_hash(client):
    user = await make_user(client.app)
    logins = [
        asyncio.create_task(
            client.post("/api/v1/auth/login", json={"username": user["username"], "password": PASSWORD})
        )
        for _ in range(20)
    ]
    await asyncio.sleep(0)  # let the logins reach the server first
    answered_while_hashing = 0
    for _ in range(5):
        resp = await client.get("/healthz")
        assert resp.status == 200
        if not all(task.done() for task in logins):
            answered_while_hashing += 1
    results = await asyncio.gather(*logins)
    assert [r.status for r in results] == [200] * 20
    # Hashing runs in threads: health checks were answered while logins were still in flight.
    assert answered_while_hashing >= 3
