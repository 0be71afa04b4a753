"""Who calls the Subsonic API: ``u``+``p``, ``u``+``t``+``s``, or ``apiKey`` — always an app password.

- ``p`` is an app password, plain or ``enc:`` + hex; ``t`` is ``md5(app password + s)``.
- ``apiKey`` (the OpenSubsonic extension) is an app password's api key, and must come alone (no ``u``).
- A disabled or deleted user is refused at once, whatever the secret.
- Failed sign-ins (a wrong password, token or api key alike) are limited per client address first
  (``HS_RATE_LOGIN_PER_IP``): over it, the address is refused whatever it sends until the window
  passes. Then per account (``HS_RATE_LOGIN_PER_USERNAME``), which must not let a stranger who knows a
  username lock its owner out: over it, a right secret still signs in from an address with no recent
  failures (the owner's devices), and only addresses that failed are refused. A stranger is slowed to
  one guess per fresh address per window; the owner never waits. Only failures count, since every
  request signs in.
"""

from __future__ import annotations

import contextlib
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
    guard = _Guard(request)
    await guard.check_address()
    api_key = params.get("apiKey")
    username = params.get("u")
    if api_key is not None:
        if username is not None or params.get("p") is not None or params.get("t") is not None:
            raise ConflictingAuth()
        try:
            return await _by_api_key(request, api_key)
        except InvalidApiKey:
            await guard.failed(None)
            raise
    if not username:
        raise MissingParameter("Required parameter is missing: u.")
    user = await app[keys.USERS].find_by_login(username)
    account = user.id if user else "unknown:" + username.lower()
    await guard.check_account(account)
    if user is not None and not user.disabled and await _secret_matches(request, params, user):
        return _caller(user)
    await guard.failed(account)
    raise WrongCredentials()


class _Guard:
    """The failure limits of one sign-in attempt (module doc)."""

    def __init__(self, request: web.Request) -> None:
        settings = request.app[keys.SETTINGS]
        self._limiter = request.app[keys.RATE_LIMITER]
        self._limits = settings.rate_limits
        self._address = client_ip(request, settings)

    async def check_address(self) -> None:
        try:
            await self._limiter.check("subsonic:ip", self._address, self._limits.login_per_ip)
        except RateLimited as exc:
            raise _too_many(exc) from exc

    async def check_account(self, account: str) -> None:
        """Over the account's limit, only an address without recent failures has its secret looked at
        (the owner's devices); the others are refused unheard."""
        try:
            await self._limiter.check("subsonic:account", account, self._limits.login_per_username)
        except RateLimited as exc:
            window = self._limits.login_per_ip[1]
            if await self._limiter.counted("subsonic:ip", self._address, window) >= 0.5:
                raise _too_many(exc) from exc

    async def failed(self, account: str | None) -> None:
        """Count a failure against the address and, when one was named, the account."""
        # Over a limit, this attempt is refused anyway; the next one meets it in the checks.
        with contextlib.suppress(RateLimited):
            await self._limiter.hit("subsonic:ip", self._address, self._limits.login_per_ip)
        if account is not None:
            with contextlib.suppress(RateLimited):
                await self._limiter.hit("subsonic:account", account, self._limits.login_per_username)


def _too_many(exc: RateLimited) -> Generic:
    return Generic(f"Too many failed sign-ins; try again in {exc.details['retry_after']} s.")


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
