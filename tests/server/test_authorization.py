"""Who may do what, for every route of the OpenAPI document, in one table.

Each operation of ``/api/v1/openapi.json`` must have a row below (a new route without one fails), and
each row is checked by calling the route as five callers: anonymous, a listener, an artist who owns
nothing here, the artist who owns the resources the path names, and an admin. Resources are real
(a ready track with its files and cover, a processing track, an album, an artist profile, playlists,
a transcode job, a scan), and destructive calls get fresh ones, so every call reaches the rule it is
meant to check. The outcome of a call is one letter:

- ``A`` allowed: anything but 401, 403 and 404 (a 409 "not loaded" or a 415 "not an image" is the rule
  being applied *after* the caller was let in);
- ``D`` denied: 401 (no or bad credentials) or 403;
- ``H`` hidden: 404, the answer for what the caller may not even know exists.

Track routes are checked twice: on a ready track, and on a processing one (visible only to its owner
and admins).
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from yarl import URL

from media.lyrics import parse_lyrics
from server import keys
from tests.audio import make_audio
from tests.delivery.conftest import Source, install
from tests.delivery.conftest import source as source  # the session's transcoded track (a fixture)
from tests.helpers import PASSWORD, bearer, login, make_user

CALLERS = ("anonymous", "listener", "artist", "owner", "admin")

# (method, path): letters for anonymous, listener, artist (not the owner), owner, admin.
# Track routes: (on a ready track, on a processing track).
TABLE: dict[tuple[str, str], str | tuple[str, str]] = {
    ("GET", "/healthz"): "AAAAA",
    ("GET", "/readyz"): "AAAAA",
    ("GET", "/metrics"): "AAAAA",  # loopback callers; tests/server/test_probe_defects.py covers the rest
    ("GET", "/api/v1/openapi.json"): "AAAAA",
    ("POST", "/api/v1/auth/register"): "AAAAA",
    ("POST", "/api/v1/auth/login"): "AAAAA",
    ("POST", "/api/v1/auth/refresh"): "DAAAA",  # anonymous has no refresh token to trade
    ("POST", "/api/v1/auth/logout"): "DAAAA",
    ("POST", "/api/v1/auth/session"): "AAAAA",
    ("GET", "/api/v1/auth/session"): "DDDDD",  # for the session cookie only, never a bearer token
    ("DELETE", "/api/v1/auth/session"): "DAAAA",
    ("GET", "/api/v1/me"): "DAAAA",
    ("PATCH", "/api/v1/me"): "DAAAA",
    ("GET", "/api/v1/me/history"): "DAAAA",
    # App passwords: the owner's own; anyone else's id is as good as unknown.
    ("POST", "/api/v1/me/app-passwords"): "DAAAA",
    ("GET", "/api/v1/me/app-passwords"): "DAAAA",
    ("DELETE", "/api/v1/me/app-passwords/{id}"): "DHHAH",
    ("GET", "/api/v1/users"): "DDDDA",
    ("GET", "/api/v1/users/{id}"): "DDDDA",
    ("PATCH", "/api/v1/users/{id}"): "DDDDA",
    ("DELETE", "/api/v1/users/{id}"): "DDDDA",
    ("GET", "/api/v1/artists"): "DAAAA",
    ("POST", "/api/v1/artists"): "DDAAA",
    ("GET", "/api/v1/artists/{id}"): "DAAAA",
    ("PATCH", "/api/v1/artists/{id}"): "DDDAA",
    ("DELETE", "/api/v1/artists/{id}"): "DDDAA",
    ("POST", "/api/v1/artists/{id}/merge"): "DDDDA",
    ("GET", "/api/v1/albums"): "DAAAA",
    ("POST", "/api/v1/albums"): "DDDAA",
    ("GET", "/api/v1/albums/{id}"): "DAAAA",
    ("PATCH", "/api/v1/albums/{id}"): "DDDAA",
    ("DELETE", "/api/v1/albums/{id}"): "DDDAA",
    ("GET", "/api/v1/tracks"): "DAAAA",
    ("POST", "/api/v1/tracks"): "DDAAA",
    ("GET", "/api/v1/tracks/{id}"): ("DAAAA", "DHHAA"),
    ("PATCH", "/api/v1/tracks/{id}"): ("DDDAA", "DDHAA"),
    ("DELETE", "/api/v1/tracks/{id}"): ("DDDAA", "DDHAA"),
    ("GET", "/api/v1/tracks/{id}/cover"): ("DAAAA", "DHHAA"),
    ("PUT", "/api/v1/tracks/{id}/cover"): ("DDDAA", "DDHAA"),
    ("POST", "/api/v1/tracks/{id}/cover"): ("DDDAA", "DDHAA"),
    ("GET", "/api/v1/tracks/{id}/media"): ("DAAAA", "DHHAA"),
    ("GET", "/api/v1/tracks/{id}/stream"): ("DAAAA", "DHHAA"),
    ("HEAD", "/api/v1/tracks/{id}/stream"): ("DAAAA", "DHHAA"),
    ("GET", "/api/v1/tracks/{id}/similar"): ("DAAAA", "DHHAA"),
    ("GET", "/api/v1/tracks/{id}/lyrics"): ("DAAAA", "DHHAA"),
    ("PUT", "/api/v1/tracks/{id}/lyrics"): ("DDDAA", "DDHAA"),
    ("DELETE", "/api/v1/tracks/{id}/lyrics"): ("DDDAA", "DDHAA"),
    ("POST", "/api/v1/scans"): "DDDDA",
    ("GET", "/api/v1/scans/{id}"): "DDDDA",
    ("GET", "/api/v1/jobs"): "DDDDA",
    ("GET", "/api/v1/jobs/{id}"): "DDDDA",
    ("POST", "/api/v1/jobs/{id}/retry"): "DDDDA",
    ("POST", "/api/v1/jobs/reanalyse"): "DDDDA",
    ("GET", "/api/v1/ladders"): "DDDDA",
    ("POST", "/api/v1/ladders/prepare"): "DDDDA",
    # Signed media: the token in the path is the credential, whoever holds it.
    ("GET", "/hls/{token}/{track_id}/{path}"): "AAAAA",
    ("HEAD", "/hls/{token}/{track_id}/{path}"): "AAAAA",
    ("OPTIONS", "/hls/{token}/{track_id}/{path}"): "AAAAA",
    ("GET", "/hls-auth/{token}/{track_id}"): "AAAAA",
    ("GET", "/media/{token}/{track_id}/original"): "AAAAA",
    ("HEAD", "/media/{token}/{track_id}/original"): "AAAAA",
    ("OPTIONS", "/media/{token}/{track_id}/original"): "AAAAA",
    ("GET", "/api/v1/playback"): "DAAAA",
    ("POST", "/api/v1/playback/play"): "DAAAA",
    ("POST", "/api/v1/playback/pause"): "DAAAA",
    ("POST", "/api/v1/playback/resume"): "DAAAA",
    ("POST", "/api/v1/playback/seek"): "DAAAA",
    ("POST", "/api/v1/playback/stop"): "DAAAA",
    ("GET", "/api/v1/search"): "DAAAA",
    ("GET", "/api/v1/recommendations"): "DAAAA",
    ("GET", "/api/v1/recommendations/trending"): "DAAAA",
    # Playlists: the owner's private one; admins may delete it (moderation) but not read it.
    ("GET", "/api/v1/playlists"): "DAAAA",
    ("POST", "/api/v1/playlists"): "DAAAA",
    ("GET", "/api/v1/playlists/{id}"): "DHHAH",
    ("GET", "/api/v1/playlists/{id}.m3u8"): "DHHAH",
    ("PATCH", "/api/v1/playlists/{id}"): "DHHAH",
    ("DELETE", "/api/v1/playlists/{id}"): "DHHAA",
    ("POST", "/api/v1/playlists/{id}/tracks"): "DHHAH",
    ("DELETE", "/api/v1/playlists/{id}/tracks/{position}"): "DHHAH",
    ("POST", "/api/v1/playlists/{id}/tracks/move"): "DHHAH",
}


def _verdict(status: int) -> str:
    if status in (401, 403):
        return "D"
    if status == 404:
        return "H"
    return "A"


@dataclass
class World:
    """Everything the routes name, owned by the "owner" artist unless said otherwise."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    tokens: dict[str, dict[str, Any]]
    owner: dict[str, Any]
    source: Source
    folder: Path
    image: bytes
    track_id: str = ""
    processing_id: str = ""
    artist_id: str = ""
    album_id: str = ""
    user_id: str = ""
    job_id: str = ""
    scan_id: str = ""
    media_token: str = ""
    playlist_id: str = ""
    usernames: dict[str, str] | None = None

    async def fresh_track(self, status: str) -> str:
        installed = await install(self.client.app, self.source, status=status)
        changes = {"owner_id": self.owner["_id"], "artist_id": self.artist_id, "album_id": self.album_id}
        await self.client.app[keys.TRACKS].update(installed.id, changes)
        # Lyrics too, so that reading and removing them has something to find.
        await self.client.app[keys.LYRICS].put(installed.id, parse_lyrics("[00:01.00]Sung"))
        return installed.id

    async def fresh_artist(self) -> str:
        doc = await self.client.app[keys.CATALOG].artists.create(
            name=f"Act {uuid.uuid4().hex[:8]}", bio=None, owner_ids=[self.owner["_id"]]
        )
        return doc.id

    async def fresh_album(self) -> str:
        doc = await self.client.app[keys.CATALOG].albums.create(
            title=f"Record {uuid.uuid4().hex[:8]}",
            artist_id=self.artist_id,
            release_year=None,
            owner_ids=[self.owner["_id"]],
        )
        return doc.id

    async def fresh_playlist(self) -> str:
        resp = await self.client.post(
            "/api/v1/playlists", json={"name": f"mix {uuid.uuid4().hex[:6]}"}, headers=self.headers["owner"]
        )
        playlist = await resp.json()
        assert resp.status == 201, playlist
        await self.client.post(
            f"/api/v1/playlists/{playlist['id']}/tracks",
            json={"track_ids": [self.track_id]},
            headers=self.headers["owner"],
        )
        return playlist["id"]

    async def fresh_app_password(self) -> str:
        resp = await self.client.post(
            "/api/v1/me/app-passwords", json={"name": "Phone"}, headers=self.headers["owner"]
        )
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]

    async def fresh_user(self) -> str:
        return (await make_user(self.client.app, "listener"))["_id"]


async def _world(client: TestClient, source: Source, tmp_path: Path) -> World:
    users = {role: await make_user(client.app, role) for role in ("listener", "artist", "admin")}
    users["owner"] = await make_user(client.app, "artist")
    tokens = {name: await login(client, user["username"]) for name, user in users.items()}
    headers = {name: bearer(t) for name, t in tokens.items()} | {"anonymous": {}}
    image = tmp_path / "cover.jpg"
    await asyncio.to_thread(
        subprocess.run,
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", str(image)],
        check=True,
        timeout=60,
    )
    world = World(client, headers, tokens, users["owner"], source, tmp_path, image.read_bytes())
    world.usernames = {name: user["username"] for name, user in users.items()}
    world.artist_id = await world.fresh_artist()
    world.album_id = await world.fresh_album()
    world.track_id = await world.fresh_track("ready")
    world.processing_id = await world.fresh_track("processing")
    for track_id in (world.track_id, world.processing_id):
        resp = await client.put(
            f"/api/v1/tracks/{track_id}/cover",
            data=world.image,
            headers={**headers["owner"], "Content-Type": "image/jpeg"},
        )
        assert resp.status == 200, await resp.text()
    world.user_id = await world.fresh_user()
    # A real transcode job: an upload by the owner, processed in-process.
    form = aiohttp.FormData()
    audio = make_audio(tmp_path / "job.mp3", "mp3", 1.0)
    form.add_field("file", audio.read_bytes(), filename="job.mp3")
    resp = await client.post("/api/v1/tracks", data=form, headers=headers["owner"])
    assert resp.status == 202, await resp.text()
    jobs = await (await client.get("/api/v1/jobs", headers=headers["admin"])).json()
    world.job_id = jobs["items"][0]["id"]
    library = tmp_path / "library"
    library.mkdir()
    resp = await client.post("/api/v1/scans", json={"path": str(library)}, headers=headers["admin"])
    world.scan_id = (await resp.json())["id"]
    urls = await (await client.get(f"/api/v1/tracks/{world.track_id}/media", headers=headers["owner"])).json()
    world.media_token = URL(urls["hls_url"]).path.split("/")[2]
    world.playlist_id = await world.fresh_playlist()
    return world


def _json(body: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"json": body(w)}


BODIES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/api/v1/auth/register"): _json(
        lambda w: {
            "username": f"u{uuid.uuid4().hex[:8]}",
            "email": f"{uuid.uuid4().hex[:8]}@x.org",
            "password": PASSWORD,
        }
    ),
    ("POST", "/api/v1/auth/login"): _json(lambda w: {"username": w.owner["username"], "password": PASSWORD}),
    ("POST", "/api/v1/auth/session"): _json(
        lambda w: {"username": w.owner["username"], "password": PASSWORD}
    ),
    ("PATCH", "/api/v1/me"): _json(lambda w: {"email": f"{uuid.uuid4().hex[:8]}@example.org"}),
    ("POST", "/api/v1/me/app-passwords"): _json(lambda w: {"name": "Tablet"}),
    ("PATCH", "/api/v1/users/{id}"): _json(lambda w: {"roles": ["listener"]}),
    ("POST", "/api/v1/artists"): _json(lambda w: {"name": f"New {uuid.uuid4().hex[:8]}"}),
    ("PATCH", "/api/v1/artists/{id}"): _json(lambda w: {"bio": "edited"}),
    ("POST", "/api/v1/artists/{id}/merge"): _json(lambda w: {"into_artist_id": w.artist_id}),
    ("POST", "/api/v1/albums"): _json(
        lambda w: {"title": f"New {uuid.uuid4().hex[:8]}", "artist_id": w.artist_id}
    ),
    ("PATCH", "/api/v1/albums/{id}"): _json(lambda w: {"release_year": 2001}),
    ("PATCH", "/api/v1/tracks/{id}"): _json(lambda w: {"title": "Edited"}),
    ("PUT", "/api/v1/tracks/{id}/lyrics"): _json(lambda w: {"text": "[00:01.00]Sung"}),
    ("POST", "/api/v1/jobs/reanalyse"): _json(lambda w: {"limit": 1}),
    ("POST", "/api/v1/ladders/prepare"): _json(lambda w: {"album_id": w.album_id}),
    ("POST", "/api/v1/scans"): _json(lambda w: {"path": str(w.folder / "library")}),
    ("POST", "/api/v1/playback/play"): _json(lambda w: {"track_id": w.track_id}),
    ("POST", "/api/v1/playback/seek"): _json(lambda w: {"position_ms": 1000}),
    ("POST", "/api/v1/playlists"): _json(lambda w: {"name": "mine"}),
    ("PATCH", "/api/v1/playlists/{id}"): _json(lambda w: {"name": "renamed"}),
    ("POST", "/api/v1/playlists/{id}/tracks"): _json(
        lambda w: {"track_ids": [w.track_id], "allow_duplicates": True}
    ),
    ("POST", "/api/v1/playlists/{id}/tracks/move"): _json(lambda w: {"from": 0, "to": 0}),
    ("PUT", "/api/v1/tracks/{id}/cover"): lambda w: {
        "data": w.image,
        "headers": {"Content-Type": "image/jpeg"},
    },
    ("POST", "/api/v1/tracks/{id}/cover"): lambda w: {
        "data": w.image,
        "headers": {"Content-Type": "image/jpeg"},
    },
}

DESTRUCTIVE = {
    ("DELETE", "/api/v1/me/app-passwords/{id}"),
    ("DELETE", "/api/v1/tracks/{id}/lyrics"),
    ("DELETE", "/api/v1/users/{id}"),
    ("DELETE", "/api/v1/artists/{id}"),
    ("DELETE", "/api/v1/albums/{id}"),
    ("DELETE", "/api/v1/tracks/{id}"),
    ("POST", "/api/v1/artists/{id}/merge"),
    ("DELETE", "/api/v1/playlists/{id}"),
    ("DELETE", "/api/v1/playlists/{id}/tracks/{position}"),
    ("POST", "/api/v1/playlists/{id}/tracks"),
    ("POST", "/api/v1/playlists/{id}/tracks/move"),
    ("PATCH", "/api/v1/playlists/{id}"),
}
"""Calls that change what they name: each caller gets a fresh copy, so the rule, not a 404, decides."""


async def _path(world: World, method: str, template: str, track_id: str) -> str:
    fresh = (method, template) in DESTRUCTIVE
    values: dict[str, str] = {"token": world.media_token, "track_id": world.track_id, "path": "master.m3u8"}
    if template.startswith("/api/v1/me/app-passwords/"):
        values["id"] = await world.fresh_app_password()
    elif template.startswith("/api/v1/users/"):
        values["id"] = await world.fresh_user() if fresh else world.user_id
    elif template.startswith("/api/v1/artists/"):
        values["id"] = await world.fresh_artist() if fresh else world.artist_id
    elif template.startswith("/api/v1/albums/"):
        values["id"] = await world.fresh_album() if fresh else world.album_id
    elif template.startswith("/api/v1/tracks/"):
        values["id"] = track_id
    elif template.startswith("/api/v1/playlists/"):
        values["id"] = await world.fresh_playlist() if fresh else world.playlist_id
        values["position"] = "0"
    elif template.startswith("/api/v1/jobs/"):
        values["id"] = world.job_id
    elif template.startswith("/api/v1/scans/"):
        values["id"] = world.scan_id
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


async def _call(world: World, method: str, template: str, caller: str, track_id: str) -> int:
    headers = dict(world.headers[caller])
    kwargs: dict[str, Any] = BODIES.get((method, template), lambda w: {})(world)
    if template == "/api/v1/auth/refresh":
        token = world.tokens[caller]["refresh_token"] if caller != "anonymous" else "not-a-token"
        kwargs = {"json": {"refresh_token": token}}
    ends_sign_in = (method, template) in (("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/auth/session"))
    if ends_sign_in and caller != "anonymous":
        # Ending a sign-in: a sign-in of its own, so the caller's other calls keep theirs.
        assert world.usernames is not None
        headers = bearer(await login(world.client, world.usernames[caller]))
    headers.update(kwargs.pop("headers", {}))
    if (method, template) in DESTRUCTIVE and template.startswith("/api/v1/tracks/"):
        track_id = await world.fresh_track("ready" if track_id == world.track_id else "processing")
    path = await _path(world, method, template, track_id)
    resp = await world.client.request(method, path, headers=headers, **kwargs)
    await resp.read()
    if template == "/api/v1/auth/refresh" and caller != "anonymous" and resp.status == 200:
        world.tokens[caller] = await resp.json()
        world.headers[caller] = bearer(world.tokens[caller])
    return resp.status


async def test_every_route_answers_every_caller_as_the_table_says(client, source, tmp_path):
    world = await _world(client, source, tmp_path)
    document = client.app[keys.OPENAPI]
    operations = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert operations == set(TABLE), (
        f"routes without a row: {sorted(operations - set(TABLE))}; rows without a route: "
        f"{sorted(set(TABLE) - operations)}"
    )
    mismatches = []
    for (method, template), expected in sorted(TABLE.items()):
        variants = (
            [(world.track_id, expected)]
            if isinstance(expected, str)
            else [
                (world.track_id, expected[0]),
                (world.processing_id, expected[1]),
            ]
        )
        for track_id, letters in variants:
            got = ""
            for caller in CALLERS:
                got += _verdict(await _call(world, method, template, caller, track_id))
            if got != letters:
                mismatches.append(f"{method} {template} on {track_id}: expected {letters}, got {got}")
    assert not mismatches, "\n".join(mismatches)
