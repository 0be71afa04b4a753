"""User payloads of the public API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from media.records import User
from server.timestamps import Timestamp

Role = Literal["listener", "artist", "admin"]
USERNAME = r"^[A-Za-z0-9_.-]+$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
Trimmed = Annotated[str, StringConstraints(strip_whitespace=True)]
"""Names and addresses are trimmed; passwords never are."""


class Strict(BaseModel):
    """Unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    id: str
    username: str
    email: str
    roles: list[Role]
    disabled: bool = False
    created_at: Timestamp

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            roles=list(user.roles),
            disabled=user.disabled,
            created_at=user.created_at,
        )


class UserList(BaseModel):
    items: list[UserOut]
    total: int


class MePatch(Strict):
    email: Trimmed | None = Field(None, pattern=EMAIL, max_length=254)
    password: str | None = Field(None, min_length=8, max_length=1024)
    current_password: str | None = Field(None, max_length=1024)


class UserAdminPatch(Strict):
    roles: list[Role] | None = Field(None, min_length=1)
    disabled: bool | None = None


class Page(Strict):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)
