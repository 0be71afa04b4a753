"""Helpers of the end-to-end tests: users signed in inside a browser context, ready tracks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext

from server import keys
from tests.audio import make_audio
from tests.helpers import PASSWORD, make_user


async def sign_in(context: BrowserContext, server: TestServer, username: str) -> None:
    """Sign the context in through the web session endpoint (sets the HttpOnly cookie)."""
    resp = await context.request.post(
        str(server.make_url("/api/v1/auth/session")), data={"username": username, "password": PASSWORD}
    )
    assert resp.status == 200, await resp.text()


async def upload_ready_track(
    app: web.Application,
    server: TestServer,
    tmp_path: Path,
    artist: dict[str, Any],
    title: str,
    *,
    seconds: float = 8.0,
    album: str = "First Light",
) -> dict[str, Any]:
    """Upload a generated file as ``artist`` through the API and wait until it is transcoded."""
    from aiohttp import ClientSession, FormData

    path = make_audio(
        tmp_path / f"{title.replace(' ', '_')}.mp3",
        "mp3",
        seconds,
        tags={"title": title, "artist": "The Testers", "album": album, "genre": "Ambient"},
    )
    base = str(server.make_url("/")).rstrip("/")
    async with ClientSession() as http:
        tokens = await (
            await http.post(
                base + "/api/v1/auth/login", json={"username": artist["username"], "password": PASSWORD}
            )
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        form = FormData()
        form.add_field("file", path.read_bytes(), filename=path.name, content_type="audio/mpeg")
        resp = await http.post(base + "/api/v1/tracks", data=form, headers=auth)
        assert resp.status == 202, await resp.text()
        track = await resp.json()
        for _ in range(240):
            track = await (await http.get(base + f"/api/v1/tracks/{track['id']}", headers=auth)).json()
            if track["status"] != "processing":
                break
            await asyncio.sleep(0.5)
    assert track["status"] == "ready", track
    return track


async def upload_album(
    server: TestServer, artist: dict[str, Any], album: str, files: list[tuple[str, Path]]
) -> list[dict[str, Any]]:
    """Upload ``(title, file)`` pairs as the tracks of ``album`` (numbered in order) through the API and
    wait until each is transcoded; the tracks' JSON."""
    from aiohttp import ClientSession, FormData

    base = str(server.make_url("/")).rstrip("/")
    async with ClientSession() as http:
        login = {"username": artist["username"], "password": PASSWORD}
        tokens = await (await http.post(base + "/api/v1/auth/login", json=login)).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        ids = []
        for no, (title, path) in enumerate(files, start=1):
            form = FormData()
            for name, value in {"title": title, "album": album, "track_no": str(no)}.items():
                form.add_field(name, value)
            form.add_field(
                "file", path.read_bytes(), filename=path.name, content_type="application/octet-stream"
            )
            resp = await http.post(base + "/api/v1/tracks", data=form, headers=auth)
            assert resp.status == 202, await resp.text()
            ids.append((await resp.json())["id"])
        tracks = []
        for track_id in ids:
            for _ in range(240):
                track = await (await http.get(f"{base}/api/v1/tracks/{track_id}", headers=auth)).json()
                if track["status"] != "processing":
                    break
                await asyncio.sleep(0.5)
            assert track["status"] == "ready", track
            tracks.append(track)
    return tracks


async def artist_user(app: web.Application, name: str | None = None) -> dict[str, Any]:
    return await make_user(app, "artist", username=name)


def audio_state_js() -> str:
    return (
        "() => { const a = document.getElementById('audio'); return {t: a.currentTime, paused: a.paused}; }"
    )


__all__ = ["artist_user", "audio_state_js", "keys", "sign_in", "upload_album", "upload_ready_track"]
