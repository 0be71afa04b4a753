"""Who may open a socket: an access token or the session cookie, and nothing else."""

from __future__ import annotations

import pytest
import socketio
from aiohttp.test_utils import TestClient

from server import keys
from server.auth.tokens import TokenCodec
from tests.helpers import PASSWORD, bearer, login, make_user
from tests.realtime.sockets import Device, server_url


async def _refused(client: TestClient, **connect: object) -> dict:
    """Connect and expect a refusal; returns the connect_error data the server sent."""
    device = Device()
    errors: list[dict] = []
    device.sio.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await device.connect(server_url(client), **connect)  # type: ignore[arg-type]
    await device.close()
    assert errors, "no connect_error received"
    return errors[0]


async def test_no_credentials_are_refused(client: TestClient) -> None:
    error = await _refused(client)
    assert error["data"]["code"] == "unauthorized"


async def test_a_forged_token_is_refused(client: TestClient) -> None:
    error = await _refused(client, token="not.a.jwt")
    assert error["data"]["code"] == "invalid_token"


async def test_an_expired_token_is_refused(client: TestClient) -> None:
    settings = client.app[keys.SETTINGS]
    user = await make_user(client.app)
    tokens = await login(client, user["username"])
    login_id = tokens["refresh_token"].split(".")[0]
    expired_codec = TokenCodec(
        settings.secret_key, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl=-60
    )
    expired, _ = expired_codec.issue_access(user["_id"], login_id)
    error = await _refused(client, token=expired)
    assert error["data"]["code"] == "token_expired"


async def test_a_revoked_token_is_refused(client: TestClient) -> None:
    user = await make_user(client.app)
    tokens = await login(client, user["username"])
    ok = await Device().connect(server_url(client), token=tokens["access_token"])
    await ok.close()
    resp = await client.post("/api/v1/auth/logout", headers=bearer(tokens))
    assert resp.status == 204
    error = await _refused(client, token=tokens["access_token"])
    assert error["data"]["code"] == "token_revoked"


async def test_a_token_wins_over_a_cookie_so_a_bad_token_is_refused(client: TestClient) -> None:
    user = await make_user(client.app)
    resp = await client.post(
        "/api/v1/auth/session", json={"username": user["username"], "password": PASSWORD}
    )
    assert resp.status == 200
    cookie = f"hs_session={resp.cookies['hs_session'].value}"
    error = await _refused(client, token="garbage", headers={"Cookie": cookie})
    assert error["data"]["code"] == "invalid_token"


async def test_the_session_cookie_connects_until_the_session_ends(client: TestClient) -> None:
    user = await make_user(client.app)
    resp = await client.post(
        "/api/v1/auth/session", json={"username": user["username"], "password": PASSWORD}
    )
    assert resp.status == 200
    csrf = (await resp.json())["csrf_token"]
    cookie = f"hs_session={resp.cookies['hs_session'].value}"

    device = await Device().connect(server_url(client), headers={"Cookie": cookie}, initial_state=False)
    state = await device.next("playback")
    assert state == {
        "track_id": None,
        "position_ms": 0,
        "is_playing": False,
        "device_id": None,
        "updated_at": None,
    }
    await device.close()

    resp = await client.delete("/api/v1/auth/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert resp.status == 204
    error = await _refused(client, headers={"Cookie": cookie})
    assert error["data"]["code"] == "session_expired"


async def test_a_malformed_device_id_is_refused(client: TestClient) -> None:
    user = await make_user(client.app)
    tokens = await login(client, user["username"])
    error = await _refused(client, token=tokens["access_token"], device_id="no spaces/slashes")
    assert error["data"]["code"] == "invalid_input"
