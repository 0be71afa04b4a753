"""Helpers that build real objects through the app itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import keys

PASSWORD = "correct horse battery"


async def make_user(
    app: web.Application, *roles: str, username: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """A user created through the auth service, as registration would; as the document fields
    (``_id``, ``username``, ``email``, ``roles``), which is how the tests name users."""
    name = username or f"user{uuid.uuid4().hex[:8]}"
    user = await app[keys.AUTH].register(name, f"{name}@example.com", password, list(roles) or None)
    return {"_id": user.id, "username": user.username, "email": user.email, "roles": list(user.roles)}


async def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return await resp.json()


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def signed_in(client: TestClient, *roles: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A new user with ``roles``, signed in: (user document, Authorization headers)."""
    user = await make_user(client.app, *roles)
    return user, bearer(await login(client, user["username"]))


def error_code(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]["code"]


async def upload_file(
    client: TestClient,
    headers: dict[str, str],
    path: Path,
    *,
    fields: dict[str, Any] | None = None,
    filename: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST ``path`` to /api/v1/tracks as multipart/form-data: (status, JSON body)."""
    form = aiohttp.FormData()
    for name, value in (fields or {}).items():
        form.add_field(name, str(value))
    with path.open("rb") as fh:
        form.add_field("file", fh, filename=filename or path.name, content_type="application/octet-stream")
        resp = await client.post("/api/v1/tracks", data=form, headers=headers)
        return resp.status, await resp.json()


async def make_track(
    client: TestClient,
    headers: dict[str, str],
    fmt: str = "mp3",
    *,
    seconds: float = 3.0,
    tags: dict[str, str] | None = None,
    fields: dict[str, Any] | None = None,
    filename: str | None = None,
) -> dict[str, Any]:
    """Generate a ``fmt`` file (tests/audio.py) and upload it through the API; the 202 track JSON.

    ``tags`` are written into the file (ffmpeg names: title, artist, album, genre, date, track);
    ``fields`` are sent as form fields. ``headers`` must belong to an artist or an admin.
    """
    from tests.audio import make_audio

    folder = client.app[keys.SETTINGS].data_dir / "generated"
    folder.mkdir(parents=True, exist_ok=True)
    # A comment of its own makes every file distinct, as separate recordings are: the same bytes
    # twice would be refused as a duplicate upload.
    unique = {"comment": uuid.uuid4().hex, **(tags or {})}
    path = make_audio(folder / f"{uuid.uuid4().hex}.{fmt}", fmt, seconds, tags=unique)
    status, body = await upload_file(client, headers, path, fields=fields, filename=filename)
    assert status == 202, body
    return body


async def wait_for_track(
    client: TestClient, headers: dict[str, str], track_id: str, *, within: float = 60.0
) -> dict[str, Any]:
    """Poll GET /tracks/{id} until it is no longer ``processing``; the final track JSON."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        resp = await client.get(f"/api/v1/tracks/{track_id}", headers=headers)
        assert resp.status == 200, await resp.text()
        track = await resp.json()
        if track["status"] != "processing":
            return track
        assert asyncio.get_running_loop().time() < deadline, f"track still processing after {within} s"
        await asyncio.sleep(0.1)


async def save_processing_track(settings: Any, db: Any, source: Path, *, owner_id: str = "owner1") -> str:
    """A ``processing`` track whose original is a copy of ``source``, saved the way an upload saves it
    (original under the media root, document through ``TrackStore``) but without queueing a job."""
    import shutil

    from media.layout import MediaLayout
    from server.catalog.store import TrackStore
    from server.documents import new_id

    layout = MediaLayout(settings.media_dir)
    track_id = new_id()
    dest = layout.original_path(track_id, source.suffix)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    original = {
        "path": layout.relative(dest),
        "format": source.suffix[1:],
        "size": dest.stat().st_size,
        "sha256": "",
        "source": "upload",
    }
    await TrackStore(db).insert(
        {
            "_id": track_id,
            "title": "Test",
            "artist_id": "artist1",
            "owner_id": owner_id,
            "status": "processing",
            "original": original,
        }
    )
    return track_id


async def decoded_seconds(source: str | bytes) -> float:
    """Seconds of audio ffmpeg decodes from a URL, or from bytes piped in as a player reads them.

    Of a master playlist, the first audio stream is decoded, as a player picks one rung.
    """
    return len(await decoded_pcm(source)) / 16000


async def decoded_pcm(source: str | bytes) -> bytes:
    """The audio ffmpeg decodes from a URL or from bytes (see :func:`decoded_seconds`): mono 16-bit
    little-endian samples at 8 kHz."""
    url = source if isinstance(source, str) else "pipe:0"
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-i", url, "-map", "0:a:0", "-f", "s16le", "-ac", "1",
        "-ar", "8000", "-",
        stdin=None if isinstance(source, str) else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    data = None if isinstance(source, str) else source
    out, err = await asyncio.wait_for(proc.communicate(data), timeout=60)
    assert proc.returncode == 0, err.decode()
    return out


async def wait_until(check: Callable[[], Awaitable[Any]], *, within: float = 60.0, what: str = "") -> Any:
    """The first true value ``check()`` returns, polled every 50 ms; fails after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not (value := await check()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value
