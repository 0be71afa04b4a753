"""Subsonic clients of other projects against the test server, with app passwords made through the API."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import libsonic
import pytest
from aiohttp.test_utils import TestClient

from tests.audio import make_jpeg
from tests.helpers import make_track, signed_in, wait_for_track


@dataclass(frozen=True, slots=True)
class AppAccount:
    user: dict[str, Any]
    headers: dict[str, str]
    """Bearer headers of the user's web-API sign-in (to make and revoke app passwords)."""
    app_password: dict[str, Any]
    """The 201 answer of POST /me/app-passwords: id, name, password, api_key, created_at."""

    @property
    def username(self) -> str:
        return self.user["username"]

    @property
    def password(self) -> str:
        return self.app_password["password"]


async def app_account(client: TestClient, *roles: str) -> AppAccount:
    user, headers = await signed_in(client, *roles)
    resp = await client.post("/api/v1/me/app-passwords", json={"name": "Phone"}, headers=headers)
    assert resp.status == 201, await resp.text()
    return AppAccount(user, headers, await resp.json())


@pytest.fixture
async def listener(client: TestClient) -> AppAccount:
    return await app_account(client, "listener")


def py_sonic(client: TestClient, account: AppAccount, **kwargs: Any) -> libsonic.Connection:
    """py-sonic signed in with the account's app password (token sign-in, form POST, ``.view``).

    ``serverPath`` without its slash: py-sonic joins base, port and path with "/" itself.
    """
    return libsonic.Connection(
        f"http://{client.server.host}",
        account.username,
        account.password,
        port=client.server.port,
        serverPath="rest",
        **kwargs,
    )


def token_auth(account: AppAccount, salt: str = "c19b2d") -> dict[str, str]:
    """The parameters of a token sign-in with the account's app password: u, s and t = md5(password + s)."""
    return {
        "u": account.username,
        "s": salt,
        "t": hashlib.md5((account.password + salt).encode()).hexdigest(),
    }


@pytest.fixture
async def library(client) -> dict:
    """An album of two ready tracks by an artist, one with a cover; and a listener's app password."""
    account = await app_account(client, "artist")
    tracks = []
    for no, title in ((1, "Dawn Chorus"), (2, "Evening Hymn")):
        made = await make_track(
            client,
            account.headers,
            "flac",
            seconds=2,
            fields={"artist": "The Larks", "album": "Day", "track_no": no, "title": title},
        )
        tracks.append(await wait_for_track(client, account.headers, made["id"]))
    resp = await client.put(
        f"/api/v1/tracks/{tracks[0]['id']}/cover",
        data=make_jpeg(),
        headers={**account.headers, "Content-Type": "image/jpeg"},
    )
    assert resp.status == 200, await resp.text()
    listener = await app_account(client, "listener")
    return {
        "tracks": tracks,
        "artist": account,
        "listener": listener,
        "album_id": tracks[0]["album_id"],
        "artist_id": tracks[0]["artist_id"],
    }
