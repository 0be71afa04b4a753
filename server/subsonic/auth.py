"""Who calls the Subsonic API: ``u``+``p``, ``u``+``t``+``s``, or ``apiKey`` — always an app password.

- ``p`` is an app password, plain or ``enc:`` + hex; ``t`` is ``md5(app password + s)``.
- ``apiKey`` (the OpenSubsonic extension) is an app password's api key, and must come alone (no ``u``).
- A disabled or deleted user is refused at once, whatever the secret.
- Failed sign-ins are limited per account and per address like the web's
  (``HS_RATE_LOGIN_PER_USERNAME``, ``HS_RATE_LOGIN_PER_IP``). Only failures count, since every request
  signs in, and once over the limit even a right secret waits.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web

from media.records import User
from server import keys
from server.auth.service import Principal
from server.errors import NotFound, RateLimited
from server.middleware.client_ip import client_ip
from server.subsonic.protocol import (
    ConflictingAuth,
    Generic,
    InvalidApiKey,
    MissingParameter,
    Params,
    WrongCredentials,
)


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    principal: Principal


async def authenticate(request: web.Request, params: Params) -> Caller:
    app = request.app
    api_key = params.get("apiKey")
    username = params.get("u")
    if api_key is not None:
        if username is not None or params.get("p") is not None or params.get("t") is not None:
            raise ConflictingAuth()
        return await _by_api_key(request, api_key)
    if not username:
        raise MissingParameter("Required parameter is missing: u.")
    limiter = app[keys.RATE_LIMITER]
    limits = app[keys.SETTINGS].rate_limits
    address = client_ip(request, app[keys.SETTINGS])
    user = await app[keys.USERS].find_by_login(username)
    account = user.id if user else "unknown:" + username.lower()
    try:
        await limiter.check("subsonic:account", account, limits.login_per_username)
        await limiter.check("subsonic:ip", address, limits.login_per_ip)
    except RateLimited as exc:
        raise Generic(f"Too many failed sign-ins; try again in {exc.details['retry_after']} s.") from exc
    if user is not None and not user.disabled and await _secret_matches(request, params, user):
        return _caller(user)
    try:
        await limiter.hit("subsonic:account", account, limits.login_per_username)
        await limiter.hit("subsonic:ip", address, limits.login_per_ip)
    except RateLimited:
        pass  # this attempt is refused anyway; the next one meets the limit in check()
    raise WrongCredentials()


async def _secret_matches(request: web.Request, params: Params, user: User) -> bool:
    password = params.get("p")
    token, salt = params.get("t"), params.get("s")
    if password is None and token is None:
        raise MissingParameter("Required parameter is missing: p, or t and s.")
    if token is not None and not salt:
        raise MissingParameter("Required parameter is missing: s.")
    store = request.app[keys.APP_PASSWORDS]
    for record, secret in await store.passwords(user.id):
        if password is not None:
            ok = hmac.compare_digest(_plain(password).encode(), secret.encode())
        else:
            expected = hashlib.md5((secret + (salt or "")).encode()).hexdigest()
            ok = hmac.compare_digest(expected.encode(), (token or "").lower().encode())
        if ok:
            await store.used(record)
            return True
    return False


def _plain(password: str) -> str:
    if password.startswith("enc:"):
        try:
            return bytes.fromhex(password[4:]).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
    return password


async def _by_api_key(request: web.Request, api_key: str) -> Caller:
    store = request.app[keys.APP_PASSWORDS]
    record = await store.by_api_key(api_key) if api_key else None
    if record is None:
        raise InvalidApiKey()
    try:
        user = await request.app[keys.USERS].get(record.user_id)
    except NotFound as exc:
        raise InvalidApiKey() from exc
    if user.disabled:
        raise InvalidApiKey("This account is disabled.")
    await store.used(record)
    return _caller(user)


def _caller(user: User) -> Caller:
    return Caller(user, Principal(user.id, user.username, frozenset(user.roles), "subsonic", "subsonic"))
