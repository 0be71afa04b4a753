"""Sign-in payloads of the public API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.users.schemas import EMAIL, USERNAME, Strict, Trimmed, UserOut


class RegisterIn(Strict):
    username: Trimmed = Field(min_length=3, max_length=32, pattern=USERNAME)
    email: Trimmed = Field(max_length=254, pattern=EMAIL)
    password: str = Field(min_length=8, max_length=1024)


class LoginIn(Strict):
    username: Trimmed = Field(min_length=1, max_length=254, description="Username or email.")
    password: str = Field(min_length=1, max_length=1024)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str
