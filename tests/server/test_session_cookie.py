"""The web app's cookie session: sign in, CSRF on writes, sign out."""

from __future__ import annotations

from tests.helpers import PASSWORD, error_code, make_user


async def test_cookie_session_needs_csrf_for_writes(client):
    user = await make_user(client.app)
    resp = await client.post(
        "/api/v1/auth/session", json={"username": user["username"], "password": PASSWORD}
    )
    assert resp.status == 200
    body = await resp.json()
    csrf = body["csrf_token"]
    assert "hs_session" in resp.cookies and resp.cookies["hs_session"]["httponly"]

    # Reads need no CSRF token.
    me = await client.get("/api/v1/me")
    assert me.status == 200 and (await me.json())["id"] == user["_id"]
    session = await client.get("/api/v1/auth/session")
    assert (await session.json())["csrf_token"] == csrf

    # A write carrying the cookie but not the token is what a cross-site form would send.
    resp = await client.patch("/api/v1/me", json={"email": "new@example.com"})
    assert resp.status == 403 and error_code(await resp.json()) == "csrf_failed"
    resp = await client.patch(
        "/api/v1/me", json={"email": "new@example.com"}, headers={"X-CSRF-Token": "nope"}
    )
    assert resp.status == 403
    resp = await client.patch("/api/v1/me", json={"email": "new@example.com"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["email"] == "new@example.com"

    assert (await client.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf})).status == 204
    assert (await client.get("/api/v1/me")).status == 401
