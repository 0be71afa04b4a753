"""``/api/v1/me`` (the caller's own account) and ``/api/v1/users`` (admin management)."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.api import ADMIN, SIGNED_IN, Api
from server.errors import Conflict, Invalid, Unauthorized
from server.middleware.client_ip import client_ip
from server.users.schemas import MePatch, Page, UserAdminPatch, UserList, UserOut

api = Api("/api/v1")


@api.route("GET", "/me", roles=SIGNED_IN, response=UserOut, tags=["users"])
async def get_me(request: web.Request) -> UserOut:
    """The signed-in user."""
    return UserOut.of(await request.app[keys.USERS].get(request[keys.PRINCIPAL].user_id))


@api.route("PATCH", "/me", roles=SIGNED_IN, body=MePatch, response=UserOut, tags=["users"])
async def patch_me(request: web.Request, body: MePatch) -> UserOut:
    """Change your email or password (the password needs ``current_password``)."""
    users = request.app[keys.USERS]
    auth = request.app[keys.AUTH]
    user_id = request[keys.PRINCIPAL].user_id
    user = await users.get(user_id)
    if body.password is not None:
        if not body.current_password:
            raise Invalid(details={"fields": {"current_password": "Field required to change the password"}})
        try:
            # Limited like a sign-in: a stolen access token must not become a password-guessing oracle.
            await auth.authenticate(
                user.username,
                body.current_password,
                limiter=request.app[keys.RATE_LIMITER],
                address=client_ip(request, request.app[keys.SETTINGS]),
            )
        except Unauthorized as exc:
            raise Invalid(
                "The current password is wrong.",
                code="wrong_password",
                details={"fields": {"current_password": "wrong password"}},
            ) from exc
        user = await auth.change_password(user_id, body.password)
    if body.email is not None:
        user = await users.update(user_id, {"email": body.email})
    await auth.user_changed(user)
    return UserOut.of(user)


@api.route("GET", "/users", roles=ADMIN, query=Page, response=UserList, tags=["users"])
async def list_users(request: web.Request, query: Page) -> UserList:
    """Every account (admin)."""
    docs, total = await request.app[keys.USERS].list(limit=query.limit, offset=query.offset)
    return UserList(items=[UserOut.of(d) for d in docs], total=total)


@api.route("GET", "/users/{id}", roles=ADMIN, response=UserOut, tags=["users"])
async def get_user(request: web.Request) -> UserOut:
    """One account (admin)."""
    return UserOut.of(await request.app[keys.USERS].get(request.match_info["id"]))


@api.route("PATCH", "/users/{id}", roles=ADMIN, body=UserAdminPatch, response=UserOut, tags=["users"])
async def patch_user(request: web.Request, body: UserAdminPatch) -> UserOut:
    """Change roles or disable an account (admin); a disabled user's tokens stop working at once."""
    user_id = request.match_info["id"]
    changes = body.model_dump(exclude_none=True)
    if user_id == request[keys.PRINCIPAL].user_id and (
        changes.get("disabled") or ("roles" in changes and "admin" not in changes["roles"])
    ):
        raise Conflict("Admins cannot disable themselves or drop their own admin role.", code="self_lockout")
    user = await request.app[keys.USERS].update(user_id, changes)
    await request.app[keys.AUTH].user_changed(user)
    return UserOut.of(user)


@api.route("DELETE", "/users/{id}", roles=ADMIN, status=204, tags=["users"])
async def delete_user(request: web.Request) -> None:
    """Delete an account (admin) and everything it owns: sign-ins, app passwords, playlists, play
    history, stars and ratings, playback state, devices, the saved play queue. Uploads stay in the
    catalog. A delete that failed half-way leaves the account disabled; deleting it again completes."""
    user_id = request.match_info["id"]
    if user_id == request[keys.PRINCIPAL].user_id:
        raise Conflict("Admins cannot delete themselves.", code="self_lockout")
    await request.app[keys.ACCOUNTS].delete(user_id)
