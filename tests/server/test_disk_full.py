"""A full disk: 507 ``insufficient_storage`` with nothing half-written, and a warning before it happens.

The data directory lives on a small tmpfs the test mounts (the tests run as root, as CI does), so the
disk really fills: no write is faked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import keys
from server.app import create_app
from server.settings import Settings
from tests.catalog.test_upload_bad_input import BOUNDARY, part_head, wav_header
from tests.helpers import error_code, signed_in

DISK_MB = 48


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    assert os.geteuid() == 0, "this test mounts a small tmpfs: run the tests as root (as CI does)"
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def stream_upload(client, headers: dict[str, str], megabytes: int):
    """A chunked upload (no Content-Length, so nothing can refuse it up front) of ``megabytes``."""

    async def body():
        yield part_head("big.wav") + wav_header(600)
        for _ in range(megabytes * 4):
            yield bytes(256 * 1024)
            await asyncio.sleep(0)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    return await client.post(
        "/api/v1/tracks",
        data=body(),
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


async def test_a_disk_that_fills_during_an_upload_answers_507_and_keeps_nothing(
    small_disk, aiohttp_client, settings
):
    app = create_app(dataclasses.replace(settings, data_dir=small_disk / "data", min_free_mb=0))
    client = await aiohttp_client(app)
    _, artist = await signed_in(client, "artist")
    resp = await stream_upload(client, artist, DISK_MB * 2)
    assert resp.status == 507, await resp.text()
    body = await resp.json()
    assert error_code(body) == "insufficient_storage"
    # Nothing half-written: the temp file is gone, no track was made, and the server goes on.
    tmp = app[keys.SETTINGS].tmp_dir
    assert not tmp.exists() or list(tmp.iterdir()) == []
    admin_h = (await signed_in(client, "admin"))[1]
    listing = await (await client.get("/api/v1/tracks", headers=admin_h)).json()
    assert listing["total"] == 0
    assert (await client.get("/healthz")).status == 200


async def test_low_space_is_reported_and_uploads_refused_before_they_start(
    small_disk, aiohttp_client, settings
):
    # The default threshold (512 MB) is far above what this disk has.
    assert Settings().min_free_mb == 512
    app = create_app(dataclasses.replace(settings, data_dir=small_disk / "data", min_free_mb=512))
    client = await aiohttp_client(app)
    ready = await client.get("/readyz")
    assert ready.status == 200
    state = await ready.json()
    assert state["status"] == "degraded" and state["checks"]["storage"].startswith("low: ")
    assert "HS_MIN_FREE_MB=512" in state["checks"]["storage"]

    metrics = (await (await client.get("/metrics")).read()).decode()
    (line,) = [m for m in metrics.splitlines() if m.startswith("hs_disk_free_bytes ")]
    assert 0 < float(line.split()[1]) <= DISK_MB * 1024 * 1024

    _, artist = await signed_in(client, "artist")
    resp = await stream_upload(client, artist, 1)
    assert resp.status == 507 and error_code(await resp.json()) == "insufficient_storage"
    tmp = app[keys.SETTINGS].tmp_dir
    assert not tmp.exists() or list(tmp.iterdir()) == []


async def test_with_room_to_spare_readiness_says_ok(aiohttp_client, settings):
    client = await aiohttp_client(create_app(dataclasses.replace(settings, min_free_mb=1)))
    state = await (await client.get("/readyz")).json()
    assert state["status"] == "ok" and state["checks"]["storage"] == "ok"
