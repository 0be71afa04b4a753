"""The sign-in lifecycle through the public API."""

from __future__ import annotations

from tests.helpers import PASSWORD, bearer, error_code, login, make_user


async def test_register_login_me_refresh_reuse_logout(client):
    resp = await client.post(
        "/api/v1/auth/register",
        json={"username": "alice", "email": "alice@example.com", "password": PASSWORD},
    )
    assert resp.status == 201
    user = await resp.json()
    assert user["username"] == "alice" and user["roles"] == ["listener"]
    assert "password_hash" not in user and "password" not in user

    tokens = await login(client, "alice")
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
    assert tokens["user"]["id"] == user["id"]

    me = await client.get("/api/v1/me", headers=bearer(tokens))
    assert me.status == 200 and (await me.json())["email"] == "alice@example.com"

    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status == 200
    rotated = await resp.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]

    # The old refresh token was rotated away: reusing it is refused and ends the whole login.
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status == 401
    assert error_code(await resp.json()) == "refresh_token_reused"
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert resp.status == 401
    assert (await client.get("/api/v1/me", headers=bearer(rotated))).status == 401

    # A fresh login, then logout: its access token stops working at once.
    fresh = await login(client, "alice@example.com")
    assert (await client.get("/api/v1/me", headers=bearer(fresh))).status == 200
    assert (await client.post("/api/v1/auth/logout", headers=bearer(fresh))).status == 204
    resp = await client.get("/api/v1/me", headers=bearer(fresh))
    assert resp.status == 401 and error_code(await resp.json()) == "token_revoked"
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert resp.status == 401


async def test_wrong_password_and_unknown_user_answer_alike(client):
    await make_user(client.app, username="bob")
    wrong = await client.post("/api/v1/auth/login", json={"username": "bob", "password": "nope-nope-nope"})
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": "nope-nope-nope"}
    )
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()


async def test_duplicate_username_or_email_is_409(client):
    await make_user(client.app, username="carol")
    resp = await client.post(
        "/api/v1/auth/register",
        json={"username": "CAROL", "email": "other@example.com", "password": PASSWORD},
    )
    assert resp.status == 409 and error_code(await resp.json()) == "username_taken"
    resp = await client.post(
        "/api/v1/auth/register",
        json={"username": "carol2", "email": "Carol@Example.com", "password": PASSWORD},
    )
    assert resp.status == 409 and error_code(await resp.json()) == "email_taken"


async def test_bad_registration_input_names_the_fields(client):
    resp = await client.post(
        "/api/v1/auth/register", json={"username": "dave", "email": "dave@example.com", "password": "short"}
    )
    assert resp.status == 400
    body = await resp.json()
    assert error_code(body) == "invalid_input" and "password" in body["error"]["details"]["fields"]

    resp = await client.post("/api/v1/auth/register", json={"username": "dave"})
    fields = (await resp.json())["error"]["details"]["fields"]
    assert resp.status == 400 and {"email", "password"} <= set(fields)

    resp = await client.post(
        "/api/v1/auth/register",
        json={"username": "dave", "email": "d@e.fr", "password": PASSWORD, "is_admin": True},
    )
    assert resp.status == 400 and "is_admin" in (await resp.json())["error"]["details"]["fields"]

    resp = await client.post(
        "/api/v1/auth/register", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400 and error_code(await resp.json()) == "malformed_json"


async def test_disabled_user_cannot_sign_in_and_tokens_stop(client):
    admin = await make_user(client.app, "admin")
    admin_h = bearer(await login(client, admin["username"]))
    user = await make_user(client.app)
    tokens = await login(client, user["username"])
    resp = await client.patch(f"/api/v1/users/{user['_id']}", json={"disabled": True}, headers=admin_h)
    assert resp.status == 200 and (await resp.json())["disabled"] is True
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status == 401
    resp = await client.post("/api/v1/auth/login", json={"username": user["username"], "password": PASSWORD})
    assert resp.status == 403 and error_code(await resp.json()) == "account_disabled"
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status == 401
