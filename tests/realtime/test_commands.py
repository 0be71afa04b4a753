"""``playback:command`` over Socket.IO: the same effect as REST, remote control, and error events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server import keys
from tests.helpers import login, make_user
from tests.realtime.sockets import Device, server_url


@pytest.fixture
async def devices() -> AsyncIterator[list[Device]]:
    made: list[Device] = []
    yield made
    for device in made:
        await device.close()


async def _token(client: TestClient) -> str:
    user = await make_user(client.app)
    return (await login(client, user["username"]))["access_token"]


async def _connect(devices: list[Device], client: TestClient, token: str, device_id: str) -> Device:
    device = await Device().connect(server_url(client), token=token, device_id=device_id)
    devices.append(device)
    return device


async def _track(client: TestClient, status: str = "ready") -> dict[str, Any]:
    track = await client.app[keys.TRACKS].insert(
        {"title": "Song", "artist_id": "a1", "owner_id": "o1", "status": status, "duration_ms": 200_000}
    )
    return track.to_doc()


async def test_a_socket_command_has_the_rest_effect_and_is_pushed(
    client: TestClient, devices: list[Device]
) -> None:
    token = await _token(client)
    track = await _track(client)
    laptop = await _connect(devices, client, token, "laptop")
    phone = await _connect(devices, client, token, "phone")

    ack = await phone.command(action="play", track_id=track["_id"], position_ms=1000)
    assert ack["ok"] is True
    assert ack["state"]["device_id"] == "phone"  # playing from a device makes it the active one
    assert (await laptop.next("playback"))["device_id"] == "phone"
    assert (await phone.next("playback"))["is_playing"] is True

    ack = await laptop.command(action="pause")
    assert ack["ok"] is True
    assert (await phone.next("playback"))["is_playing"] is False
    resp = await client.get("/api/v1/playback", headers={"Authorization": f"Bearer {token}"})
    body = await resp.json()
    assert body["is_playing"] is False
    assert body["device_id"] == "phone"  # pausing from another device does not move playback
    await laptop.nothing("playback:command")


async def test_a_command_targeting_a_device_reaches_that_device(
    client: TestClient, devices: list[Device]
) -> None:
    token = await _token(client)
    track = await _track(client)
    laptop = await _connect(devices, client, token, "laptop")
    speaker = await _connect(devices, client, token, "speaker")
    phone = await _connect(devices, client, token, "phone")

    ack = await phone.command(action="play", track_id=track["_id"], target_device_id="speaker")
    assert ack["ok"] is True
    forwarded = await speaker.next("playback:command")
    assert forwarded["action"] == "play"
    assert forwarded["track_id"] == track["_id"]
    assert forwarded["from_device_id"] == "phone"
    assert forwarded["state"]["device_id"] == "speaker"
    # Everyone learns the new state; only the target gets the command itself.
    assert (await laptop.next("playback"))["device_id"] == "speaker"
    await laptop.nothing("playback:command", within=0.2)
    await phone.nothing("playback:command", within=0.2)

    await phone.command(action="seek", position_ms=30_000, target_device_id="speaker")
    forwarded = await speaker.next("playback:command")
    assert (forwarded["action"], forwarded["position_ms"]) == ("seek", 30_000)


async def test_a_command_for_another_users_device_gets_an_error_event_and_no_effect(
    client: TestClient, devices: list[Device]
) -> None:
    token, other_token = await _token(client), await _token(client)
    track = await _track(client)
    mine = await _connect(devices, client, token, "phone")
    theirs = await _connect(devices, client, other_token, "their-speaker")

    ack = await mine.command(action="play", track_id=track["_id"], target_device_id="their-speaker")
    assert ack["ok"] is False
    error = await mine.next("error")
    assert error["code"] == "unknown_device"
    assert set(error) == {"code", "message", "details"}
    await theirs.nothing("playback:command", within=0.2)
    await theirs.nothing("playback", within=0.1)
    await mine.nothing("playback", within=0.1)
    resp = await client.get("/api/v1/playback", headers={"Authorization": f"Bearer {token}"})
    assert (await resp.json())["track_id"] is None


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"action": "rewind"}, "invalid_input"),
        ({"action": "play"}, "invalid_input"),
        ({"action": "seek", "position_ms": -5}, "invalid_input"),
        ({"action": "pause", "extra": 1}, "invalid_input"),
        ({"action": "pause"}, "nothing_playing"),
        ({"action": "resume"}, "nothing_playing"),
        ({"action": "seek", "position_ms": 10}, "nothing_playing"),
        ({"action": "play", "track_id": "000000000000000000000000"}, "not_found"),
    ],
)
async def test_bad_commands_get_an_error_event(
    client: TestClient, devices: list[Device], command: dict[str, Any], code: str
) -> None:
    device = await _connect(devices, client, await _token(client), "phone")
    ack = await device.command(**command)
    assert ack == {"ok": False, "error": await device.next("error")}
    assert ack["error"]["code"] == code
    await device.nothing("playback", within=0.1)


async def test_a_command_for_a_track_not_ready_gets_an_error_event(
    client: TestClient, devices: list[Device]
) -> None:
    device = await _connect(devices, client, await _token(client), "phone")
    track = await _track(client, status="processing")
    await device.command(action="play", track_id=track["_id"])
    assert (await device.next("error"))["code"] == "track_not_ready"


async def test_a_retried_command_id_changes_nothing_the_second_time(
    client: TestClient, devices: list[Device]
) -> None:
    token = await _token(client)
    track = await _track(client)
    phone = await _connect(devices, client, token, "phone")
    first = await phone.command(action="play", track_id=track["_id"], command_id="cmd-1")
    await phone.next("playback")
    again = await phone.command(action="play", track_id=track["_id"], command_id="cmd-1")
    assert again["ok"] is True
    assert again["state"]["updated_at"] == first["state"]["updated_at"]
    await phone.nothing("playback", within=0.3)
    resp = await client.get("/api/v1/me/history", headers={"Authorization": f"Bearer {token}"})
    assert len((await resp.json())["items"]) == 1
