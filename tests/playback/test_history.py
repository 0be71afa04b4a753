"""Listens, ``ms_played`` and the play-count rule (30 s or half the track, once per listen).

A service with a hand-driven clock runs the real script on the real Redis and the real store, so the
30-second rule is checked without waiting 30 seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server import keys
from server.playback.service import PlaybackRequest, PlaybackService
from server.playback.state import PlaybackStates
from tests.helpers import signed_in
from tests.services import DATE_COMPARISON


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def _service(client: TestClient, clock: Clock) -> PlaybackService:
    app = client.app
    return PlaybackService(
        states=PlaybackStates(app[keys.REDIS], app[keys.SETTINGS].redis_prefix),
        history=app[keys.HISTORY],
        tracks=app[keys.TRACKS],
        events=app[keys.EVENTS],
        clock=clock,
    )


async def _track(client: TestClient, duration_ms: int) -> dict[str, Any]:
    track = await client.app[keys.TRACKS].insert(
        {"title": "Song", "artist_id": "a1", "owner_id": "o1", "status": "ready", "duration_ms": duration_ms}
    )
    return track.to_doc()


async def _plays(client: TestClient, track: dict[str, Any]) -> int:
    return (await client.app[keys.TRACKS].get(track["_id"])).play_count


async def _listens(client: TestClient, user_id: str) -> list[dict[str, Any]]:
    return [dataclasses.asdict(listen) for listen in await client.app[keys.HISTORY].recent(user_id, limit=50)]


def _do(action: str, **kw: Any) -> PlaybackRequest:
    return PlaybackRequest(action=action, **kw)  # type: ignore[arg-type]


async def test_a_long_track_counts_after_30_seconds_heard(client: TestClient) -> None:
    clock = Clock()
    service = _service(client, clock)
    track = await _track(client, 600_000)
    await service.execute("u1", _do("play", track_id=track["_id"], device_id="phone"))
    clock.advance(29_999)
    await service.execute("u1", _do("pause"))
    assert await _plays(client, track) == 0
    clock.advance(60_000)  # paused time is not heard
    await service.execute("u1", _do("resume"))
    clock.advance(1)
    await service.execute("u1", _do("pause"))
    assert await _plays(client, track) == 1
    [listen] = await _listens(client, "u1")
    assert (listen["ms_played"], listen["counted"], listen["device"]) == (30_000, True, "phone")

    # Listening on counts nothing more for the same listen.
    await service.execute("u1", _do("resume"))
    clock.advance(100_000)
    await service.execute("u1", _do("pause"))
    assert await _plays(client, track) == 1
    assert (await _listens(client, "u1"))[0]["ms_played"] == 130_000


async def test_a_short_track_counts_after_half_of_it(client: TestClient) -> None:
    clock = Clock()
    service = _service(client, clock)
    track = await _track(client, 20_000)
    await service.execute("u1", _do("play", track_id=track["_id"]))
    clock.advance(9_999)
    await service.execute("u1", _do("seek", position_ms=19_000))  # seeking is not listening
    assert await _plays(client, track) == 0
    await service.execute("u1", _do("seek", position_ms=0))
    clock.advance(1)
    await service.execute("u1", _do("pause"))
    assert await _plays(client, track) == 1
    assert (await _listens(client, "u1"))[0]["ms_played"] == 10_000


async def test_time_past_the_end_is_not_heard(client: TestClient) -> None:
    clock = Clock()
    service = _service(client, clock)
    track = await _track(client, 50_000)
    await service.execute("u1", _do("play", track_id=track["_id"], position_ms=40_000))
    clock.advance(3_600_000)  # left running for an hour
    state = await service.state("u1")
    assert (state["position_ms"], state["is_playing"]) == (50_000, False)
    await service.execute("u1", _do("stop"))
    [listen] = await _listens(client, "u1")
    assert listen["ms_played"] == 10_000
    assert listen["counted"] is False  # 10 s of a 50 s track: under both thresholds
    assert await _plays(client, track) == 0


async def test_the_next_play_closes_the_listen_and_starts_another(client: TestClient) -> None:
    clock = Clock()
    service = _service(client, clock)
    first, second = await _track(client, 240_000), await _track(client, 240_000)
    await service.execute("u1", _do("play", track_id=first["_id"]))
    clock.advance(40_000)
    await service.execute("u1", _do("play", track_id=second["_id"]))
    clock.advance(5_000)
    await service.execute("u1", _do("play", track_id=first["_id"]))
    assert (await _plays(client, first), await _plays(client, second)) == (1, 0)
    listens = await _listens(client, "u1")
    assert [(x["track_id"], x["ms_played"]) for x in listens] == [
        (first["_id"], 0),
        (second["_id"], 5_000),
        (first["_id"], 40_000),
    ]


async def test_concurrent_and_retried_commands_count_a_listen_once(client: TestClient) -> None:
    clock = Clock()
    service = _service(client, clock)
    track = await _track(client, 300_000)
    await service.execute("u1", _do("play", track_id=track["_id"], command_id="p1"))
    clock.advance(31_000)
    # Two devices pausing at the same instant, each retrying: one settles the listen, the rest see it paused.
    await asyncio.gather(*(service.execute("u1", _do("pause")) for _ in range(6)))
    await asyncio.gather(
        *(service.execute("u1", _do("play", track_id=track["_id"], command_id="p1")) for _ in range(3))
    )
    assert await _plays(client, track) == 1
    [listen] = await _listens(client, "u1")  # the retried play started no second listen
    assert (listen["ms_played"], listen["counted"]) == (31_000, True)


async def test_a_play_from_the_position_counts_only_what_was_heard(client: TestClient) -> None:
    clock = Clock()
    service = _service(client, clock)
    track = await _track(client, 200_000)
    await service.execute("u1", _do("play", track_id=track["_id"], position_ms=150_000))
    clock.advance(29_000)
    await service.execute("u1", _do("stop"))
    assert await _plays(client, track) == 0
    assert (await _listens(client, "u1"))[0]["ms_played"] == 29_000


@pytest.mark.standin_deviation(reason=DATE_COMPARISON)
async def test_history_lists_my_listens_newest_first_in_pages(client: TestClient) -> None:
    _, headers = await signed_in(client)
    _, other = await signed_in(client)
    tracks = [await _track(client, 100_000) for _ in range(3)]
    # Start on a fresh second: the three listens then fall within one second (tens of ms apart), which is
    # what the stand-in gets wrong, every time rather than when they happen to straddle a second.
    await asyncio.sleep(1 - time.time() % 1)
    for track in tracks:
        resp = await client.post(
            "/api/v1/playback/play", json={"track_id": track["_id"], "device_id": "web"}, headers=headers
        )
        assert resp.status == 200
        await asyncio.sleep(0.01)  # distinct played_at
    await client.post("/api/v1/playback/play", json={"track_id": tracks[0]["_id"]}, headers=other)

    resp = await client.get("/api/v1/me/history?limit=2", headers=headers)
    assert resp.status == 200
    page = await resp.json()
    assert [i["track_id"] for i in page["items"]] == [tracks[2]["_id"], tracks[1]["_id"]]
    assert page["items"][0]["device"] == "web"
    assert page["items"][0]["played_at"].endswith("Z")
    assert page["next_before"] == page["items"][-1]["played_at"]

    resp = await client.get(
        "/api/v1/me/history", params={"limit": 2, "before": page["next_before"]}, headers=headers
    )
    rest = await resp.json()
    assert [i["track_id"] for i in rest["items"]] == [tracks[0]["_id"]]
    assert rest["next_before"] is None

    resp = await client.get("/api/v1/me/history?limit=0", headers=headers)
    assert resp.status == 400
