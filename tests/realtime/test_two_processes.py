"""Two server processes on one real Redis: what is caused through one reaches sockets on the other.

Process 1 is the test's own app; process 2 is ``python -m server serve`` started here with the same
Redis URL and key prefix, the same secret, and the same store (the embedded store's directory, or the
same MongoDB database).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from media.events import SOCKETIO_CHANNEL_SUFFIX
from server import keys
from server.settings import PROJECT_ROOT, Settings
from tests.helpers import login, make_user
from tests.realtime.sockets import Device, server_url
from tests.services import free_port


@pytest.fixture
async def second_server(client: TestClient, tmp_path: Path) -> AsyncIterator[str]:
    """Base URL of another ``serve`` process sharing the test app's Redis, prefix, secret and store."""
    settings: Settings = client.app[keys.SETTINGS]
    port = free_port()
    env = {
        **os.environ,
        "HS_REDIS_URL": settings.redis_url,
        "HS_REDIS_PREFIX": settings.redis_prefix,
        "HS_SECRET_KEY": settings.secret_key,
        "HS_MONGO_URL": settings.mongo_url,
        "HS_MONGO_DB": settings.mongo_db,
        "HS_LOG_LEVEL": "warning",
    }
    log = (tmp_path / "second.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", str(settings.data_dir)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert proc.returncode is None, (tmp_path / "second.log").read_text()
                try:
                    async with http.get(url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the second server did not start")
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)
        log.close()


async def _wait_subscribers(client: TestClient, count: int) -> None:
    """Each process's Redis manager subscribes when its first socket connects; wait until they have."""
    channel = client.app[keys.SETTINGS].redis_prefix + SOCKETIO_CHANNEL_SUFFIX
    for _ in range(250):
        [(_, subscribed)] = await client.app[keys.REDIS].pubsub_numsub(channel)
        if subscribed >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} subscribers expected on {channel}")


async def test_an_event_caused_through_one_process_reaches_a_socket_on_the_other(
    client: TestClient, second_server: str
) -> None:
    user = await make_user(client.app)
    token = (await login(client, user["username"]))["access_token"]
    track = await client.app[keys.TRACKS].insert(
        {"title": "Song", "artist_id": "a1", "owner_id": "o1", "status": "ready", "duration_ms": 180_000}
    )
    track_id = track.id
    on_second = await Device().connect(second_server, token=token, device_id="phone")
    on_first = await Device().connect(server_url(client), token=token, device_id="laptop")
    try:
        await _wait_subscribers(client, 2)

        # REST through process 1 → the socket on process 2.
        resp = await client.post(
            "/api/v1/playback/play",
            json={"track_id": track_id, "device_id": "laptop"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status == 200
        state = await on_second.next("playback")
        assert (state["track_id"], state["device_id"]) == (track_id, "laptop")
        await on_first.next("playback")

        # A socket command on process 2 targeting a device on process 1: the device registry and
        # the forwarded command both cross processes.
        ack = await on_second.command(action="pause", target_device_id="laptop")
        assert ack["ok"] is True, ack
        forwarded = await on_first.next("playback:command")
        assert (forwarded["action"], forwarded["from_device_id"]) == ("pause", "phone")
        assert (await on_first.next("playback"))["is_playing"] is False
        resp = await client.get("/api/v1/playback", headers={"Authorization": f"Bearer {token}"})
        assert (await resp.json())["is_playing"] is False
    finally:
        await on_second.close()
        await on_first.close()
