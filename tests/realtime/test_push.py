"""Real Socket.IO clients against a running server: rooms, the initial state, the pushed events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from media.events import LIBRARY, SOCKETIO_CHANNEL_SUFFIX, TRACK
from server import keys
from tests.helpers import login, make_user
from tests.realtime.sockets import Device, server_url


@pytest.fixture
async def devices() -> AsyncIterator[list[Device]]:
    """Devices made by a test; all disconnected at its end."""
    made: list[Device] = []
    yield made
    for device in made:
        await device.close()


async def _listener(client: TestClient) -> tuple[dict[str, Any], str]:
    user = await make_user(client.app)
    tokens = await login(client, user["username"])
    return user, tokens["access_token"]


async def _ready_track(client: TestClient, duration_ms: int = 180_000) -> dict[str, Any]:
    track = await client.app[keys.TRACKS].insert(
        {"title": "Song", "artist_id": "a1", "owner_id": "o1", "status": "ready", "duration_ms": duration_ms}
    )
    return track.to_doc()


async def _connect(devices: list[Device], client: TestClient, token: str, device_id: str) -> Device:
    device = await Device().connect(server_url(client), token=token, device_id=device_id)
    devices.append(device)
    return device


async def test_rest_play_reaches_every_device_of_the_user_and_nobody_else(
    client: TestClient, devices: list[Device]
) -> None:
    _, token = await _listener(client)
    _, other_token = await _listener(client)
    track = await _ready_track(client)
    laptop = await _connect(devices, client, token, "laptop")
    phone = await _connect(devices, client, token, "phone")
    stranger = await _connect(devices, client, other_token, "laptop")

    resp = await client.post(
        "/api/v1/playback/play",
        json={"track_id": track["_id"], "position_ms": 5000, "device_id": "laptop"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200, await resp.text()

    for device in (laptop, phone):
        state = await device.next("playback")
        assert state["track_id"] == track["_id"]
        assert state["device_id"] == "laptop"
        assert state["is_playing"] is True
        assert 5000 <= state["position_ms"] < 6000
    await stranger.nothing("playback")


async def test_a_new_connection_receives_the_current_state(client: TestClient, devices: list[Device]) -> None:
    _, token = await _listener(client)
    track = await _ready_track(client)
    headers = {"Authorization": f"Bearer {token}"}
    await client.post(
        "/api/v1/playback/play", json={"track_id": track["_id"], "device_id": "tv"}, headers=headers
    )
    await client.post("/api/v1/playback/pause", headers=headers)

    late = Device()
    devices.append(late)
    await late.connect(server_url(client), token=token, device_id="phone", initial_state=False)
    state = await late.next("playback")
    assert state["track_id"] == track["_id"]
    assert state["is_playing"] is False
    assert state["device_id"] == "tv"


async def test_bus_events_go_to_the_named_user_or_to_everyone(
    client: TestClient, devices: list[Device]
) -> None:
    user, token = await _listener(client)
    _, other_token = await _listener(client)
    mine = await _connect(devices, client, token, "a")
    theirs = await _connect(devices, client, other_token, "b")

    payload = {"id": "t1", "status": "processing", "progress": 40, "error": None}
    await client.app[keys.EVENTS].publish(TRACK, payload, user_id=user["_id"])
    assert await mine.next(TRACK) == payload
    await theirs.nothing(TRACK)

    change = {"kind": "album", "id": "al1", "action": "created"}
    await client.app[keys.EVENTS].publish(LIBRARY, change)
    assert await mine.next(LIBRARY) == change
    assert await theirs.next(LIBRARY) == change


async def test_a_worker_emitting_on_the_shared_channel_reaches_the_uploader(
    client: TestClient, devices: list[Device]
) -> None:
    """The transcoder's way: a write-only Redis manager on the agreed channel, no server code involved."""
    settings = client.app[keys.SETTINGS]
    user, token = await _listener(client)
    mine = await _connect(devices, client, token, "a")
    await _wait_subscribed(client, settings.redis_prefix + SOCKETIO_CHANNEL_SUFFIX)

    worker = socketio.AsyncRedisManager(
        settings.redis_url, write_only=True, channel=settings.redis_prefix + SOCKETIO_CHANNEL_SUFFIX
    )
    payload = {"id": "t9", "status": "ready", "progress": 100, "error": None}
    await worker.emit(TRACK, payload, room=user["_id"])
    assert await mine.next(TRACK) == payload
    await worker.redis.aclose()


async def _wait_subscribed(client: TestClient, channel: str) -> None:
    """The Redis manager subscribes once its first client connects; wait until it has."""
    import asyncio

    redis = client.app[keys.REDIS]
    for _ in range(200):
        [(_, count)] = await redis.pubsub_numsub(channel)
        if count >= 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nobody subscribed to {channel}")
