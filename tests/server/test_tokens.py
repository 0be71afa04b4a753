"""Access tokens that are tampered with, expired, or of another algorithm are refused."""

from __future__ import annotations

import base64
import json
import time

import jwt

from server import keys
from tests.helpers import bearer, error_code, login, make_user


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_expired_and_alg_none_tokens_are_401(client):
    user = await make_user(client.app)
    tokens = await login(client, user["username"])
    header, payload, signature = tokens["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    forged = dict(claims, sub="somebody-else")
    tampered = f"{header}.{_b64(forged)}.{signature}"
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    other_key = jwt.encode(claims, "not-the-server-key-but-long-enough-for-hs256", algorithm="HS256")

    for bad in (tampered, unsigned, other_key, "garbage", tokens["refresh_token"]):
        resp = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status == 401, bad
        assert error_code(await resp.json()) in {"invalid_token", "token_revoked"}

    # An expired token signed with the server's own key is refused as expired.
    codec = client.app[keys.TOKENS]
    expired_claims = dict(claims, iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    expired = jwt.encode(expired_claims, codec._key, algorithm="HS256")
    resp = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status == 401 and error_code(await resp.json()) == "token_expired"

    # The genuine token still works: the failures above were about the tokens, not the user.
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status == 200


async def test_wrong_scheme_is_401(client):
    resp = await client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert resp.status == 401
    resp = await client.get("/api/v1/me")
    assert resp.status == 401 and error_code(await resp.json()) == "unauthorized"
