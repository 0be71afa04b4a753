"""Recommendations from a small real history: every reason, cold start, trending in Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from server import keys
from server.documents import new_id
from server.recommend.trending import record_play, trending
from tests.helpers import error_code, make_track, signed_in, wait_for_track
from tests.search.catalog_docs import Catalog
from tests.subsonic.conftest import app_account, token_auth


async def _catalog(client: TestClient) -> dict[str, str]:
    cat = Catalog(client.app)
    tracks = {
        "Feeling Good": ("Nina Simone", "Jazz", 70),
        "Sinnerman": ("Nina Simone", "Jazz", 30),
        "I Put a Spell on You": ("Nina Simone", "Jazz", 20),
        "So What": ("Miles Davis", "Jazz", 80),
        "Blue in Green": ("Miles Davis", "Jazz", 40),
        "Halo": ("Beyoncé", "Pop", 95),
        "Formation": ("Beyoncé", "Pop", 60),
        "Paranoid": ("Black Sabbath", "Metal", 50),
    }
    ids = {}
    for title, (artist, genre, plays) in tracks.items():
        ids[title] = (await cat.track(title, artist, genre=genre, plays=plays))["_id"]
    await cat.track("Work in Progress", "Nina Simone", genre="Jazz", status="processing", plays=999)
    await client.app[keys.SEARCH].sync()
    return ids


async def _played(client: TestClient, user_id: str, track_id: str, hours_ago: float) -> None:
    played_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=hours_ago)
    await client.app[keys.DB]["play_history"].insert_one(
        {"_id": new_id(), "user_id": user_id, "track_id": track_id, "played_at": played_at,
         "ms_played": 60_000, "device": None, "counted": True}
    )  # fmt: skip


async def _get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    resp = await client.get(path, params={k: str(v) for k, v in params.items()}, headers=headers)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["tracks"]


async def test_for_you_from_history(client: TestClient) -> None:
    ids = await _catalog(client)
    user, headers = await signed_in(client)
    # Lately: Nina Simone, over and over; long ago: some metal.
    for hours in (1, 2, 3):
        await _played(client, user["_id"], ids["Feeling Good"], hours)
    await _played(client, user["_id"], ids["Paranoid"], 24 * 30)
    items = await _get(client, "/api/v1/recommendations", headers, limit=10)
    by_title = {t["title"]: t for t in items}
    # Just played: not recommended again.
    assert "Feeling Good" not in by_title
    assert "Work in Progress" not in by_title  # never a track that is not ready
    # Same artist first, with the reason a person would give.
    assert items[0]["title"] in ("Sinnerman", "I Put a Spell on You")
    assert by_title["Sinnerman"]["reason"] == "Because you played Nina Simone"
    assert by_title["Sinnerman"]["reason_kind"] == "artist"
    # Same genre, other artist.
    assert by_title["So What"]["reason"] == "Because you listen to Jazz"
    # Everything from the taste comes first; then the catalog's popular tracks fill up, with their reason.
    kinds = [t["reason_kind"] for t in items]
    assert kinds[:4] == ["artist", "artist", "genre", "genre"]
    assert by_title["Halo"]["reason"] == "Popular in Pop"
    # One of the latest listens (even an old taste) is not recommended again right away.
    assert "Paranoid" not in by_title
    assert all(t["status"] == "ready" and t["reason"] for t in items)


async def test_cold_start_trending_and_popular(client: TestClient) -> None:
    ids = await _catalog(client)
    _, headers = await signed_in(client)
    redis, prefix = client.app[keys.REDIS], client.app[keys.SETTINGS].redis_prefix
    for _ in range(3):
        await record_play(redis, prefix, ids["Paranoid"], "Metal")
    await record_play(redis, prefix, ids["Blue in Green"], "Jazz")
    items = await _get(client, "/api/v1/recommendations", headers, limit=5)
    assert [t["title"] for t in items[:2]] == ["Paranoid", "Blue in Green"]
    assert items[0]["reason"] == "Trending now" and items[0]["reason_kind"] == "trending"
    # Then the most played of the catalog, by genre.
    assert items[2]["title"] == "Halo" and items[2]["reason"] == "Popular in Pop"
    assert items[3]["title"] == "So What" and items[3]["reason"] == "Popular in Jazz"
    assert len(items) == 5
    # Trending per genre, over its own endpoint.
    jazz = await _get(client, "/api/v1/recommendations/trending", headers, genre="jazz")
    assert [t["title"] for t in jazz] == ["Blue in Green"] and jazz[0]["reason"] == "Trending in jazz"


async def test_trending_decays_with_age() -> None:
    import fakeredis

    redis = fakeredis.FakeAsyncRedis()
    now = 1_800_000_000.0
    for _ in range(4):
        await record_play(redis, "t:", "old", None, now=now - 6 * 86400)
    for _ in range(2):
        await record_play(redis, "t:", "new", None, now=now)
    ranked = await trending(redis, "t:", now=now)
    # Four plays six days ago (weight 1/8 each) count less than two today.
    assert [track for track, _ in ranked] == ["new", "old"]
    assert ranked[0][1] == 2.0 and abs(ranked[1][1] - 0.5) < 1e-9


async def test_similar_to_a_track(client: TestClient) -> None:
    ids = await _catalog(client)
    user, headers = await signed_in(client)
    # Two other listeners played Halo and then Paranoid.
    for other in ("u-one", "u-two"):
        await _played(client, other, ids["Halo"], 5)
        await _played(client, other, ids["Paranoid"], 4)
    items = await _get(client, f"/api/v1/tracks/{ids['Halo']}/similar", headers)
    by_title = {t["title"]: t for t in items}
    assert items[0]["title"] == "Paranoid"
    assert items[0]["reason"] == "Listeners of Halo also played this"
    assert by_title["Formation"]["reason"] == "More from Beyoncé"
    assert "Halo" not in by_title
    seed = await _get(client, f"/api/v1/tracks/{ids['So What']}/similar", headers)
    assert {t["reason"] for t in seed} >= {"More from Miles Davis", "Popular in Jazz"}
    resp = await client.get("/api/v1/tracks/nope/similar", headers=headers)
    assert resp.status == 404
    resp = await client.get("/api/v1/recommendations", params={"limit": "0"}, headers=headers)
    assert resp.status == 400 and error_code(await resp.json()) == "invalid_input"
    assert user["_id"]


async def test_counted_plays_trend_through_the_http_api(client: TestClient) -> None:
    """Trending comes from counted listens: the web player's (past half of a 2 s track) and Subsonic
    scrobbles with ``submission=true``, by the same rule; a listen stopped at once counts nothing."""
    artist = await app_account(client, "artist")
    ids = {}
    for title, genre in (("Dawn", "Jazz"), ("Dusk", "Metal")):
        made = await make_track(
            client, artist.headers, "mp3", seconds=2, fields={"title": title, "artist": "X", "genre": genre}
        )
        ids[title] = (await wait_for_track(client, artist.headers, made["id"]))["id"]
    listener = await app_account(client, "listener")
    headers = listener.headers
    assert await _get(client, "/api/v1/recommendations/trending", headers) == []

    async def command(action: str, **body: Any) -> None:
        resp = await client.post(f"/api/v1/playback/{action}", json=body, headers=headers)
        assert resp.status == 200, await resp.text()

    await command("play", track_id=ids["Dawn"], device_id="web")
    await asyncio.sleep(1.3)  # heard past half of the track: the listen counts when it ends
    await command("play", track_id=ids["Dusk"], device_id="web")
    await command("stop")  # Dusk heard for a moment: not counted
    trending = await _get(client, "/api/v1/recommendations/trending", headers)
    assert [t["title"] for t in trending] == ["Dawn"] and trending[0]["reason"] == "Trending now"

    async def scrobble(track_id: str, submission: str) -> None:
        params = {**token_auth(listener), "v": "1.16.1", "c": "Phone", "f": "json", "id": track_id}
        resp = await client.get("/rest/scrobble", params={**params, "submission": submission})
        assert (await resp.json())["subsonic-response"]["status"] == "ok"

    await scrobble(ids["Dusk"], "false")  # now playing: a listen starts on the app's device
    await scrobble(ids["Dusk"], "true")  # ends that listen, heard for a moment: not counted
    await scrobble(ids["Dusk"], "true")  # plays the server never saw: one counted listen each
    await scrobble(ids["Dusk"], "true")
    # The view is cached for a while (CACHE_SECONDS): a genre asked for the first time is fresh.
    metal = await _get(client, "/api/v1/recommendations/trending", headers, genre="Metal")
    assert [t["title"] for t in metal] == ["Dusk"]
    assert await _get(client, "/api/v1/recommendations/trending", headers, genre="Jazz") != []
    history = await (await client.get("/api/v1/me/history", headers=headers)).json()
    assert sum(item["counted"] for item in history["items"]) == 3
