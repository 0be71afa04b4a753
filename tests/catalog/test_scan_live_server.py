"""``harmonystream scan`` beside a running embedded-store ``serve``: playable at once, transcoded soon.

With the embedded Redis the scan cannot reach the server's job queue; it wakes the server through the
data dir instead, so the transcodes start within seconds rather than at the next sweep (60 s).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.audio import make_audio
from tests.processes import cli, cli_env, create_user, serving

PASSWORD = "scan-admin-password"


async def test_scanned_files_play_at_once_and_transcode_within_seconds(tmp_path):
    env = cli_env(tmp_path / "data")
    assert "HS_JOB_SWEEP_INTERVAL" not in env  # the default, 60 s: only the wake-up can be quick
    library = tmp_path / "library"
    library.mkdir()
    for i in range(2):
        make_audio(library / f"song{i}.flac", "flac", 2.0, tags={"title": f"Song {i}", "artist": "Scanned"})
    await create_user(env, "boss", PASSWORD, "admin")
    async with serving(env) as (base, _), aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/v1/auth/login", json={"username": "boss", "password": PASSWORD}
        ) as resp:
            headers = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
        scanned = await asyncio.to_thread(cli, "scan", str(library), env=env)
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
        # The ladder follows within seconds.
        while True:
            async with session.get(f"{base}/api/v1/tracks", headers=headers) as resp:
                states = {t["status"] for t in (await resp.json())["items"]}
            if states == {"ready"}:
                break
            assert time.monotonic() - finished < 20, states
            await asyncio.sleep(0.2)
