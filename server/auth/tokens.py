"""Access tokens (short-lived JWTs) and refresh tokens (opaque, rotated, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from server.errors import Unauthorized

ALGORITHM = "HS256"
"""Pinned: a token naming any other algorithm, ``none`` included, is refused."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    login_id: str
    jti: str
    expires_at: int


class TokenCodec:
    def __init__(self, secret: str, *, issuer: str, audience: str, ttl: int) -> None:
        self._key = hashlib.sha256(b"jwt:" + secret.encode()).digest()
        self._issuer = issuer
        self._audience = audience
        self.ttl = ttl

    def issue_access(self, user_id: str, login_id: str) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "sub": user_id,
            "sid": login_id,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self.ttl,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), now + self.ttl

    def decode_access(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "jti", "sub", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired.", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is not valid.", code="invalid_token") from exc
        return AccessClaims(str(claims["sub"]), str(claims["sid"]), str(claims["jti"]), int(claims["exp"]))


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits: a fast hash is enough, and the store never holds the token itself.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_refresh_token(token: str) -> tuple[str, str]:
    login_id, _, secret = token.partition(".")
    if not login_id or not secret or len(token) > 200:
        raise Unauthorized("The refresh token is not valid.", code="invalid_token")
    return login_id, secret
