"""``harmonystream scan`` beside a running embedded-store ``serve``: playable at once, transcoded soon.

With the embedded Redis the scan cannot reach the server's job queue; it wakes the server through the
data dir instead, so the transcodes start within seconds rather than at the next sweep (60 s).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import aiohttp

from tests.audio import make_audio
from tests.server.test_cli import _env, _wait_healthy
from tests.services import free_port

PASSWORD = "scan-admin-password"


async def test_scanned_files_play_at_once_and_transcode_within_seconds(tmp_path):
    env = _env(tmp_path / "data")
    library = tmp_path / "library"
    library.mkdir()
    for i in range(2):
        make_audio(library / f"song{i}.flac", "flac", 2.0, tags={"title": f"Song {i}", "artist": "Scanned"})
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server", "create-user", "boss", "--password", PASSWORD, "--role", "admin"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_healthy(session, base, proc)
            async with session.post(
                f"{base}/api/v1/auth/login", json={"username": "boss", "password": PASSWORD}
            ) as resp:
                headers = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
            scanned = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "server", "scan", str(library)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert scanned.returncode == 0, scanned.stderr
            finished = time.monotonic()
            async with session.get(f"{base}/api/v1/tracks?sort=title", headers=headers) as resp:
                tracks = (await resp.json())["items"]
            assert [t["title"] for t in tracks] == ["Song 0", "Song 1"]
            # The original plays by range straight away, transcoded or not.
            for track in tracks:
                async with session.get(
                    f"{base}/api/v1/tracks/{track['id']}/stream", headers={**headers, "Range": "bytes=0-3"}
                ) as resp:
                    assert resp.status == 206 and await resp.read() == b"fLaC"
            # The ladder follows within seconds (the sweep interval is 60 s: only the wake-up can do it).
            while True:
                async with session.get(f"{base}/api/v1/tracks", headers=headers) as resp:
                    states = {t["status"] for t in (await resp.json())["items"]}
                if states == {"ready"}:
                    break
                assert time.monotonic() - finished < 20, states
                await asyncio.sleep(0.2)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)
    assert "HS_JOB_SWEEP_INTERVAL" not in os.environ
