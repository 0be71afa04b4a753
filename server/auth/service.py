"""Sign-in rules: registration, password checks, token pairs, rotation, revocation, and the caller.

Who may do what is decided from a ``Principal``. Resolving one costs one Redis round trip: the
login's state and the user's roles are cached there (the database stays the source of truth), and
revocation writes a tombstone first so a racing cache fill can never resurrect a revoked login.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from media.records import User
from server.auth.passwords import PasswordHasher
from server.auth.store import LoginStore
from server.auth.tokens import TokenCodec, hash_secret, new_refresh_secret, split_refresh_token
from server.delivery.revocation import Revocations
from server.errors import Forbidden, NotFound, Unauthorized
from server.middleware.ratelimit import RateLimiter
from server.settings import Settings
from server.users.store import UserStore

USER_CACHE_TTL = 300
REVOKED = b"revoked"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: str
    username: str
    roles: frozenset[str]
    login_id: str
    via: str
    """"token" (Authorization header) or "cookie" (web session)."""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class AuthService:
    def __init__(
        self,
        *,
        users: UserStore,
        logins: LoginStore,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        redis: aioredis.Redis,
        settings: Settings,
        revocations: Revocations | None = None,
    ) -> None:
        self._users = users
        self._revocations = revocations
        self._logins = logins
        self._hasher = hasher
        self._tokens = tokens
        self._redis = redis
        self._settings = settings
        self._prefix = settings.redis_prefix

    # -- accounts -------------------------------------------------------------------------------

    async def register(
        self, username: str, email: str, password: str, roles: list[str] | None = None
    ) -> User:
        password_hash = await self._hasher.hash(password)
        return await self._users.create(
            username=username, email=email, password_hash=password_hash, roles=roles or ["listener"]
        )

    async def authenticate(self, login: str, password: str, *, limiter: RateLimiter, address: str) -> User:
        """The user behind these credentials; unknown user and wrong password fail identically.

        Each attempt counts against the account (whichever of its username or email was typed, so the
        two share one budget) and then against the client address: an account refusal does not spend
        the address's budget. An unknown name is limited under its own typed form.
        """
        user = await self._users.find_by_login(login)
        limits = self._settings.rate_limits
        account = user.id if user else "unknown:" + login.lower()
        await limiter.hit("login:account", account, limits.login_per_username)
        await limiter.hit("login:ip", address, limits.login_per_ip)
        ok = await self._hasher.verify(password, user.password_hash if user else None)
        if not ok or user is None:
            raise Unauthorized("Wrong username or password.", code="invalid_credentials")
        if user.disabled:
            raise Forbidden("This account is disabled.", code="account_disabled")
        return user

    async def change_password(self, user_id: str, password: str) -> User:
        return await self._users.update(user_id, {"password_hash": await self._hasher.hash(password)})

    async def user_changed(self, user: User) -> None:
        """Call after every change to a user: drops the cached copy, ends a disabled user's logins."""
        await self._redis.delete(self._user_key(user.id))
        if user.disabled:
            await self.revoke_user(user.id)

    async def revoke_user(self, user_id: str) -> None:
        """End every login of a disabled or deleted user, and the media URLs handed to them."""
        for login_id in await self._logins.revoke_user(user_id):
            await self._tombstone(login_id)
        await self._redis.delete(self._user_key(user_id))
        if self._revocations is not None:
            await self._revocations.revoke_user(user_id)

    async def forget_user(self, user_id: str) -> None:
        """A deleted account: its logins end (tombstones, media URLs) and their records go."""
        await self.revoke_user(user_id)
        await self._logins.forget_user(user_id)

    # -- logins ---------------------------------------------------------------------------------

    async def start_login(self, user: User, device: str = "") -> TokenPair:
        secret = new_refresh_secret()
        login_id = await self._logins.create(
            user.id, hash_secret(secret), self._settings.refresh_token_ttl, device
        )
        access, _ = self._tokens.issue_access(user.id, login_id)
        return TokenPair(access, f"{login_id}.{secret}", self._tokens.ttl)

    async def start_cookie_login(self, user: User, device: str = "") -> str:
        """A login for a web session: no refresh token leaves the server; the cookie names the login."""
        return await self._logins.create(
            user.id, hash_secret(new_refresh_secret()), self._settings.refresh_token_ttl, device
        )

    async def refresh(self, refresh_token: str) -> tuple[TokenPair, User]:
        """Rotate: the presented token stops working. Presenting a rotated one again ends the login."""
        login_id, secret = split_refresh_token(refresh_token)
        presented = hash_secret(secret)
        rotated_to = new_refresh_secret()
        doc = await self._logins.rotate(login_id, presented, hash_secret(rotated_to))
        if doc is None:
            current = await self._logins.get(login_id)
            if current and presented in current.previous_hashes:
                # Someone holds a stolen copy, or a client replayed: neither copy may go on.
                await self.logout(login_id)
                raise Unauthorized(
                    "This refresh token was already used; sign in again.", code="refresh_token_reused"
                )
            raise Unauthorized("The refresh token is not valid.", code="invalid_token")
        if not LoginStore.is_active(doc):
            raise Unauthorized("This sign-in has ended; sign in again.", code="invalid_token")
        user = await self._users.get(doc.user_id)
        if user.disabled:
            raise Forbidden("This account is disabled.", code="account_disabled")
        access, _ = self._tokens.issue_access(user.id, login_id)
        return TokenPair(access, f"{login_id}.{rotated_to}", self._tokens.ttl), user

    async def logout(self, login_id: str) -> None:
        """End a login: its tokens and the media URLs handed to it stop working."""
        await self._logins.revoke(login_id)
        await self._tombstone(login_id)
        if self._revocations is not None:
            await self._revocations.revoke_login(login_id)

    # -- the caller -----------------------------------------------------------------------------

    async def principal_from_token(self, token: str) -> Principal:
        claims = self._tokens.decode_access(token)
        principal = await self.principal_from_login(claims.login_id, via="token")
        if principal is None or principal.user_id != claims.user_id:
            raise Unauthorized("This sign-in has ended; sign in again.", code="token_revoked")
        return principal

    async def principal_from_login(self, login_id: str, *, via: str) -> Principal | None:
        login_key = self._login_key(login_id)
        cached_login = await self._redis.get(login_key)
        if cached_login == REVOKED:
            return None
        if cached_login is None:
            doc = await self._logins.get(login_id)
            if not LoginStore.is_active(doc):
                return None
            assert doc is not None
            cached_login = doc.user_id.encode()
            # NX: a tombstone written meanwhile by a revocation must win over this fill.
            await self._redis.set(login_key, cached_login, ex=self._tokens.ttl, nx=True)
        user = await self._cached_user(cached_login.decode())
        if user is None or user["disabled"]:
            return None
        return Principal(user["id"], user["username"], frozenset(user["roles"]), login_id, via)

    async def _cached_user(self, user_id: str) -> dict[str, Any] | None:
        key = self._user_key(user_id)
        raw = await self._redis.get(key)
        if raw is not None:
            return json.loads(raw)
        try:
            doc = await self._users.get(user_id)
        except NotFound:
            return None
        user = {"id": doc.id, "username": doc.username, "roles": list(doc.roles), "disabled": doc.disabled}
        await self._redis.set(key, json.dumps(user), ex=USER_CACHE_TTL)
        return user

    async def _tombstone(self, login_id: str) -> None:
        # Access tokens outlive no longer than their ttl, so the tombstone need not either.
        await self._redis.set(self._login_key(login_id), REVOKED, ex=self._tokens.ttl + 60)

    def _login_key(self, login_id: str) -> str:
        return f"{self._prefix}login:{login_id}"

    def _user_key(self, user_id: str) -> str:
        return f"{self._prefix}user:{user_id}"
