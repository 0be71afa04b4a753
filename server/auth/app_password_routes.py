"""``/api/v1/me/app-passwords``: make, list and revoke the app passwords of the Subsonic API."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from server import keys
from server.api import SIGNED_IN, Api
from server.auth.app_passwords import MAX_PER_USER, AppPassword
from server.catalog.schemas import Strict
from server.errors import Conflict
from server.timestamps import Timestamp

api = Api("/api/v1")


class AppPasswordIn(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    """What it is for ("Phone, Symfonium"), to tell them apart when revoking."""


class AppPasswordOut(BaseModel):
    id: str
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None

    @classmethod
    def of(cls, record: AppPassword) -> AppPasswordOut:
        return cls(
            id=record.id, name=record.name, created_at=record.created_at, last_used_at=record.last_used_at
        )


class NewAppPasswordOut(BaseModel):
    id: str
    name: str
    password: str
    """For the app's password field (plain or token sign-in). Shown this once."""
    api_key: str
    """For apps that sign in with the OpenSubsonic apiKey extension. Shown this once."""
    created_at: Timestamp


class AppPasswordList(BaseModel):
    items: list[AppPasswordOut]


@api.route(
    "POST",
    "/me/app-passwords",
    roles=SIGNED_IN,
    body=AppPasswordIn,
    response=NewAppPasswordOut,
    status=201,
    tags=["users"],
)
async def create_app_password(request: web.Request, body: AppPasswordIn) -> NewAppPasswordOut:
    """Make an app password for a Subsonic app; its password and api key are shown only in this answer."""
    store = request.app[keys.APP_PASSWORDS]
    user_id = request[keys.PRINCIPAL].user_id
    if await store.count(user_id) >= MAX_PER_USER:
        raise Conflict(
            f"At most {MAX_PER_USER} app passwords; revoke one first.", code="too_many_app_passwords"
        )
    made = await store.create(user_id, body.name.strip())
    return NewAppPasswordOut(
        id=made.record.id,
        name=made.record.name,
        password=made.password,
        api_key=made.api_key,
        created_at=made.record.created_at,
    )


@api.route("GET", "/me/app-passwords", roles=SIGNED_IN, response=AppPasswordList, tags=["users"])
async def list_app_passwords(request: web.Request) -> AppPasswordList:
    """Your app passwords (never their secrets)."""
    records = await request.app[keys.APP_PASSWORDS].list(request[keys.PRINCIPAL].user_id)
    return AppPasswordList(items=[AppPasswordOut.of(r) for r in records])


@api.route("DELETE", "/me/app-passwords/{id}", roles=SIGNED_IN, status=204, tags=["users"])
async def delete_app_password(request: web.Request) -> None:
    """Revoke an app password: apps using it are refused from the next request on."""
    await request.app[keys.APP_PASSWORDS].delete(request[keys.PRINCIPAL].user_id, request.match_info["id"])
