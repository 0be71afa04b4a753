"""``/api/v1/playback``: commands, the computed position, one active device, and bad input."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient

from server import keys
from tests.helpers import error_code, signed_in


async def _track(client: TestClient, *, status: str = "ready", duration_ms: int = 180_000) -> dict[str, Any]:
    track = await client.app[keys.TRACKS].insert(
        {"title": "Song", "artist_id": "a1", "owner_id": "o1", "status": status, "duration_ms": duration_ms}
    )
    return track.to_doc()


async def _post(client: TestClient, headers: dict[str, str], action: str, **body: Any) -> tuple[int, Any]:
    resp = await client.post(f"/api/v1/playback/{action}", json=body or None, headers=headers)
    return resp.status, await resp.json()


async def _state(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    resp = await client.get("/api/v1/playback", headers=headers)
    assert resp.status == 200
    return await resp.json()


def _ms_since(mark: float) -> float:
    return (time.monotonic() - mark) * 1000


# Positions run on the server's clock between its handling of two requests. The test bounds that
# time by what it sees around them (at least the gap between the answer to one and the asking of the
# other, at most the span from asking the first to the answer to the second), so a machine slow to
# answer widens the window instead of failing the test.
SLACK_MS = 50


async def test_the_position_runs_from_updated_at_while_playing(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client)
    asked = time.monotonic()
    status, body = await _post(client, headers, "play", track_id=track["_id"], position_ms=10_000)
    answered = time.monotonic()
    assert status == 200
    assert body["is_playing"] is True
    assert body["updated_at"].endswith("Z")
    await asyncio.sleep(2.0)
    at_least = _ms_since(answered)
    state = await _state(client, headers)
    at_most = _ms_since(asked)
    assert 10_000 + at_least - SLACK_MS <= state["position_ms"] <= 10_000 + at_most + SLACK_MS, state
    assert state["is_playing"] is True
    assert state["track_id"] == track["_id"]


async def test_pause_freezes_the_position_and_resume_runs_it_again(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client)
    asked = time.monotonic()
    await _post(client, headers, "play", track_id=track["_id"], position_ms=10_000)
    await asyncio.sleep(0.3)
    status, paused = await _post(client, headers, "pause")
    at_most = _ms_since(asked)
    assert status == 200
    assert paused["is_playing"] is False
    assert 10_300 - SLACK_MS <= paused["position_ms"] <= 10_000 + at_most + SLACK_MS
    await asyncio.sleep(0.5)
    assert (await _state(client, headers))["position_ms"] == paused["position_ms"]
    # Pausing again is harmless and changes nothing.
    assert (await _post(client, headers, "pause"))[1]["position_ms"] == paused["position_ms"]

    _, resumed = await _post(client, headers, "resume")
    assert resumed["is_playing"] is True
    await asyncio.sleep(0.4)
    assert (await _state(client, headers))["position_ms"] >= paused["position_ms"] + 350


async def test_seek_moves_the_position_and_keeps_playing(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client, duration_ms=60_000)
    await _post(client, headers, "play", track_id=track["_id"])
    asked = time.monotonic()
    status, body = await _post(client, headers, "seek", position_ms=45_000)
    assert status == 200
    assert 45_000 <= body["position_ms"] <= 45_000 + _ms_since(asked) + SLACK_MS
    assert body["is_playing"] is True
    status, body = await _post(client, headers, "seek", position_ms=60_000)
    assert status == 200  # the very end is allowed: the track has then run out
    assert (body["position_ms"], body["is_playing"]) == (60_000, False)


async def test_a_track_that_ran_out_reads_as_stopped_at_its_end(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client, duration_ms=1_000)
    await _post(client, headers, "play", track_id=track["_id"], position_ms=800)
    await asyncio.sleep(0.5)
    state = await _state(client, headers)
    assert (state["position_ms"], state["is_playing"]) == (1_000, False)


async def test_stop_unloads_the_track(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client)
    await _post(client, headers, "play", track_id=track["_id"], device_id="tv")
    status, body = await _post(client, headers, "stop")
    assert status == 200
    assert (body["track_id"], body["position_ms"], body["is_playing"]) == (None, 0, False)
    # Stopping again is not an error; pause/resume/seek now are.
    assert (await _post(client, headers, "stop"))[0] == 200
    assert (await _post(client, headers, "pause"))[0] == 409


async def test_playing_on_a_device_makes_it_the_active_one(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client)
    assert (await _post(client, headers, "play", track_id=track["_id"], device_id="laptop"))[1][
        "device_id"
    ] == "laptop"
    assert (await _post(client, headers, "play", track_id=track["_id"], device_id="phone"))[1][
        "device_id"
    ] == "phone"
    # No device named: playback stays on the active device.
    assert (await _post(client, headers, "play", track_id=track["_id"]))[1]["device_id"] == "phone"
    assert (await _post(client, headers, "pause"))[1]["device_id"] == "phone"


async def test_each_user_has_their_own_state(client: TestClient) -> None:
    _, mine = await signed_in(client)
    _, theirs = await signed_in(client)
    track = await _track(client)
    await _post(client, mine, "play", track_id=track["_id"])
    assert (await _state(client, theirs))["track_id"] is None
    assert (await _post(client, theirs, "pause"))[0] == 409


async def test_unknown_track_404_not_ready_409(client: TestClient) -> None:
    _, headers = await signed_in(client)
    status, body = await _post(client, headers, "play", track_id="000000000000000000000000")
    assert (status, error_code(body)) == (404, "not_found")
    for state in ("processing", "failed"):
        track = await _track(client, status=state)
        status, body = await _post(client, headers, "play", track_id=track["_id"])
        assert (status, error_code(body)) == (409, "track_not_ready")


async def test_nothing_playing_409(client: TestClient) -> None:
    _, headers = await signed_in(client)
    for action, body in (("pause", {}), ("resume", {}), ("seek", {"position_ms": 0})):
        status, answer = await _post(client, headers, action, **body)
        assert (status, error_code(answer)) == (409, "nothing_playing"), action


async def test_positions_out_of_range_400(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client, duration_ms=60_000)
    status, body = await _post(client, headers, "play", track_id=track["_id"], position_ms=60_001)
    assert (status, error_code(body)) == (400, "invalid_input")
    assert "position_ms" in body["error"]["details"]["fields"]
    await _post(client, headers, "play", track_id=track["_id"], position_ms=1_000)
    for position in (-1, 60_001):
        status, body = await _post(client, headers, "seek", position_ms=position)
        assert (status, error_code(body)) == (400, "invalid_input"), position
        assert "position_ms" in body["error"]["details"]["fields"]
    assert (await _state(client, headers))["position_ms"] < 10_000  # the bad seeks changed nothing


async def test_malformed_commands_400(client: TestClient) -> None:
    _, headers = await signed_in(client)
    assert (await _post(client, headers, "play", position_ms=0))[0] == 400
    status, body = await _post(client, headers, "play", track_id="x", device_id="bad device")
    assert (status, error_code(body)) == (400, "invalid_input")
    resp = await client.post("/api/v1/playback/pause", headers={**headers, "Idempotency-Key": "no spaces"})
    assert resp.status == 400


async def test_playback_needs_a_signed_in_user(client: TestClient) -> None:
    resp = await client.get("/api/v1/playback")
    assert resp.status == 401
    resp = await client.post("/api/v1/playback/pause")
    assert resp.status == 401


async def test_an_idempotency_key_makes_a_retried_command_harmless(client: TestClient) -> None:
    _, headers = await signed_in(client)
    track = await _track(client)
    await _post(client, headers, "play", track_id=track["_id"])
    retry = {**headers, "Idempotency-Key": "pause-1"}
    first = await client.post("/api/v1/playback/pause", headers=retry)
    await _post(client, headers, "resume")
    again = await client.post("/api/v1/playback/pause", headers=retry)
    assert again.status == 200
    # The retry did not pause the resumed track again.
    assert (await again.json())["is_playing"] is True
    assert (await first.json())["is_playing"] is False
