"""Devices have presence: playback follows a device that leaves, whether it says goodbye or not."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server import keys
from server.realtime.devices import DeviceRegistry
from tests.realtime.sockets import Device
from tests.realtime.test_commands import _connect, _token, _track
from tests.realtime.test_commands import devices as devices  # the fixture, shared


async def test_closing_the_tab_that_plays_pauses_playback_and_tells_the_others(
    client: TestClient, devices: list[Device]
) -> None:
    token = await _token(client)
    track = await _track(client)
    laptop = await _connect(devices, client, token, "laptop")
    phone = await _connect(devices, client, token, "phone")
    await phone.command(action="play", track_id=track["_id"], position_ms=5000)
    assert (await laptop.next("playback"))["is_playing"] is True

    await phone.close()  # the tab is closed
    devices.remove(phone)
    pushed = await laptop.next("playback")
    assert pushed["is_playing"] is False and pushed["device_id"] == "phone"
    assert pushed["position_ms"] >= 5000
    body = await (await client.get("/api/v1/playback", headers={"Authorization": f"Bearer {token}"})).json()
    assert body["is_playing"] is False
    position = body["position_ms"]
    again = await (await client.get("/api/v1/playback", headers={"Authorization": f"Bearer {token}"})).json()
    assert again["position_ms"] == position  # paused: it no longer runs on


async def test_a_device_whose_server_died_reads_as_gone_once_its_heartbeats_stop(
    client: TestClient, devices: list[Device]
) -> None:
    """A process killed without a disconnect leaves the device counted; its presence key expires, and
    the state stops playing at the next read instead of running on to the end of the track."""
    token = await _token(client)
    track = await _track(client)
    headers = {"Authorization": f"Bearer {token}"}
    resp = await client.post(
        "/api/v1/playback/play", json={"track_id": track["_id"], "device_id": "tv"}, headers=headers
    )
    assert resp.status == 200
    # A REST client naming its own device was never on Socket.IO: nothing knows it leaves, it plays on.
    assert (await (await client.get("/api/v1/playback", headers=headers)).json())["is_playing"] is True

    # The "tv" connected through a server process that then died: counted, but no heartbeat any more.
    settings = client.app[keys.SETTINGS]
    registry = DeviceRegistry(client.app[keys.REDIS], settings.redis_prefix)
    user_id = (await (await client.get("/api/v1/me", headers=headers)).json())["id"]
    await registry.connected(user_id, "tv")
    assert (await (await client.get("/api/v1/playback", headers=headers)).json())["is_playing"] is True
    await client.app[keys.REDIS].delete(f"{settings.redis_prefix}presence:{user_id}:tv")  # expired
    body = await (await client.get("/api/v1/playback", headers=headers)).json()
    assert body["is_playing"] is False and body["device_id"] == "tv"


async def test_a_late_disconnect_does_not_pause_the_device_that_plays_now(
    client: TestClient, devices: list[Device]
) -> None:
    token = await _token(client)
    track = await _track(client)
    laptop = await _connect(devices, client, token, "laptop")
    phone = await _connect(devices, client, token, "phone")
    await phone.command(action="play", track_id=track["_id"])
    await laptop.command(action="play", track_id=track["_id"])  # playback moves to the laptop
    assert (await laptop.next("playback"))["device_id"] == "phone"
    assert (await laptop.next("playback"))["device_id"] == "laptop"
    await phone.close()
    devices.remove(phone)
    await laptop.nothing("playback", within=0.5)
    body = await (await client.get("/api/v1/playback", headers={"Authorization": f"Bearer {token}"})).json()
    assert body["is_playing"] is True and body["device_id"] == "laptop"
