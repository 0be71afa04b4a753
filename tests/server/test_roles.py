"""Roles are enforced by the route metadata; admins manage users."""

from __future__ import annotations

from tests.helpers import bearer, error_code, login, make_user, signed_in


async def test_listener_gets_403_on_admin_routes(client):
    listener, headers = await signed_in(client)
    for method, path in (
        ("GET", "/api/v1/users"),
        ("GET", f"/api/v1/users/{listener['_id']}"),
        ("PATCH", f"/api/v1/users/{listener['_id']}"),
        ("DELETE", f"/api/v1/users/{listener['_id']}"),
    ):
        resp = await client.request(method, path, headers=headers, json={"roles": ["admin"]})
        assert resp.status == 403, (method, path)
        assert error_code(await resp.json()) == "forbidden"


async def test_admin_changes_roles_and_it_applies_at_once(client):
    admin, admin_h = await signed_in(client, "admin")
    user = await make_user(client.app)
    user_h = bearer(await login(client, user["username"]))
    assert (await client.get("/api/v1/users", headers=user_h)).status == 403

    resp = await client.patch(
        f"/api/v1/users/{user['_id']}", json={"roles": ["listener", "admin"]}, headers=admin_h
    )
    assert resp.status == 200 and (await resp.json())["roles"] == ["listener", "admin"]
    # The same token now carries the new role: roles are read per request, not frozen in the JWT.
    resp = await client.get("/api/v1/users", headers=user_h)
    assert resp.status == 200
    listing = await resp.json()
    assert listing["total"] == 2 and {u["id"] for u in listing["items"]} == {admin["_id"], user["_id"]}

    resp = await client.patch(f"/api/v1/users/{user['_id']}", json={"roles": ["superuser"]}, headers=admin_h)
    assert resp.status == 400 and "roles.0" in (await resp.json())["error"]["details"]["fields"]


async def test_admin_cannot_lock_themselves_out(client):
    admin, admin_h = await signed_in(client, "admin")
    resp = await client.patch(f"/api/v1/users/{admin['_id']}", json={"disabled": True}, headers=admin_h)
    assert resp.status == 409
    resp = await client.delete(f"/api/v1/users/{admin['_id']}", headers=admin_h)
    assert resp.status == 409


async def test_admin_deletes_user_and_their_tokens_stop(client):
    _, admin_h = await signed_in(client, "admin")
    user, user_h = await signed_in(client)
    assert (await client.delete(f"/api/v1/users/{user['_id']}", headers=admin_h)).status == 204
    assert (await client.get("/api/v1/me", headers=user_h)).status == 401
    assert (await client.get(f"/api/v1/users/{user['_id']}", headers=admin_h)).status == 404


async def test_patch_me_changes_password_only_with_current_one(client):
    user, headers = await signed_in(client)
    resp = await client.patch("/api/v1/me", json={"password": "a-new-password"}, headers=headers)
    assert resp.status == 400
    resp = await client.patch(
        "/api/v1/me", json={"password": "a-new-password", "current_password": "wrong"}, headers=headers
    )
    assert resp.status == 400 and error_code(await resp.json()) == "wrong_password"
    resp = await client.patch(
        "/api/v1/me",
        json={"password": "a-new-password", "current_password": "correct horse battery"},
        headers=headers,
    )
    assert resp.status == 200
    await login(client, user["username"], "a-new-password")
