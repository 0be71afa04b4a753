"""A Redis that refuses or hangs gives 503 with Retry-After, not a hang or a stack trace."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Iterator

import pytest

from server import keys
from server.app import create_app
from tests.helpers import error_code
from tests.services import free_port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a hung dependency."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["refused", "hung"])
async def test_redis_down_gives_503(aiohttp_client, settings, silent_server, kind):
    port = free_port() if kind == "refused" else silent_server
    # 2 s, not 1: the database must answer /readyz within it, and the MongoDB stand-in (a Python
    # server) can take over a second for a first connection while the machine is busy.
    broken = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{port}/0", dependency_timeout=2.0)
    client = await aiohttp_client(create_app(broken))
    # The stand-in's first server selection alone can take ~2 s on a busy machine (measured 1.7-2.4 s):
    # no part of what is checked here, so the database is reached once before the clock matters.
    await asyncio.wait_for(client.app[keys.DB].command("ping"), timeout=30)

    # wait_for only guards against a hang; the dependency timeout answers well before it.
    resp = await asyncio.wait_for(
        client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}), timeout=10
    )
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5"
    body = await resp.json()
    assert error_code(body) == "service_unavailable" and body["error"]["details"]["dependency"] == "redis"

    resp = await asyncio.wait_for(client.get("/readyz"), timeout=10)
    assert resp.status == 503 and "Retry-After" in resp.headers
    checks = (await resp.json())["checks"]
    assert checks["redis"].startswith("down") and checks["database"] == "ok"
    # The process itself is fine.
    assert (await client.get("/healthz")).status == 200
