"""Helpers that build real objects through the app itself."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server import keys

PASSWORD = "correct horse battery"


async def make_user(
    app: web.Application, *roles: str, username: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """A user created through the auth service, as registration would."""
    name = username or f"user{uuid.uuid4().hex[:8]}"
    return await app[keys.AUTH].register(name, f"{name}@example.com", password, list(roles) or None)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return await resp.json()


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def signed_in(client: TestClient, *roles: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A new user with ``roles``, signed in: (user document, Authorization headers)."""
    user = await make_user(client.app, *roles)
    return user, bearer(await login(client, user["username"]))


def error_code(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]["code"]
