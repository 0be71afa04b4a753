"""A real transcoded track for the delivery tests: made once per session, copied into each test."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from media.layout import MediaLayout
from server import keys
from tests.audio import make_audio
from tests.helpers import signed_in
from transcoder.pipeline import transcode

SECONDS = 8.0


@dataclass(frozen=True, slots=True)
class Source:
    original: Path
    hls: Path


@dataclass(frozen=True, slots=True)
class Installed:
    doc: dict[str, Any]
    layout: MediaLayout

    @property
    def id(self) -> str:
        return self.doc["_id"]

    @property
    def original(self) -> Path:
        return self.layout.original_path(self.id, "flac")

    @property
    def hls(self) -> Path:
        return self.layout.hls_dir(self.id)


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """An 8-second FLAC and its HLS ladder as the transcoder writes it."""
    root = tmp_path_factory.mktemp("delivery-source")
    original = make_audio(root / "original.flac", "flac", SECONDS)
    asyncio.run(transcode(original, root / "hls"))
    return Source(original, root / "hls")


async def install(app: web.Application, source: Source, *, status: str = "ready") -> Installed:
    """A track document plus its files laid out under the app's media root, as the worker leaves them."""
    layout = MediaLayout(app[keys.SETTINGS].media_dir)
    data = source.original.read_bytes()
    inserted = await app[keys.TRACKS].insert(
        {"title": "Tone", "artist_id": "artist1", "owner_id": "owner1", "status": status}
    )
    dest = layout.original_path(inserted.id, "flac")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source.original, dest)
    original = {
        "path": layout.relative(dest),
        "format": "flac",
        "mime": "audio/flac",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "upload",
    }
    if status == "ready":
        shutil.copytree(source.hls, layout.hls_dir(inserted.id))
    track = await app[keys.TRACKS].update(inserted.id, {"original": original})
    return Installed(track.to_doc(), layout)


@pytest.fixture
async def track(client: TestClient, source: Source) -> Installed:
    return await install(client.app, source)


@pytest.fixture
async def listener(client: TestClient) -> dict[str, str]:
    """Authorization headers of a signed-in listener."""
    _, headers = await signed_in(client, "listener")
    return headers


async def media_urls(client: TestClient, headers: dict[str, str], track_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/tracks/{track_id}/media", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def local_path(url: str) -> str:
    """The path of an absolute URL (the test client talks to the same server)."""
    return URL(url).raw_path


async def raw_request(host: str, port: int, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Send ``target`` byte for byte (no client-side normalisation of ``..`` or escapes): status, body."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def served(client: TestClient, route: str) -> float:
    """How many requests the server answered on ``route`` (a route template), whatever the status."""
    total = 0.0
    for metric in client.app[keys.METRICS].requests.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels["route"] == route:
                total += sample.value
    return total


def segment_cache(value: str) -> bool:
    """A segment's Cache-Control: immutable, public, and cacheable no longer than its URL's token lives
    (the default 4 h media URL lifetime, whose expiry the signer rounds up by at most 300 s)."""
    match = re.fullmatch(r"public, max-age=(\d+), immutable", value)
    return match is not None and 0 < int(match.group(1)) <= 4 * 3600 + 300
