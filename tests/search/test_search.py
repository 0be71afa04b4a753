"""GET /api/v1/search on a small real catalog, on every configured store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server import keys
from tests.helpers import error_code, signed_in
from tests.search.catalog_docs import Catalog
from tests.services import NESTED_PROJECTION


async def _catalog(client: TestClient) -> Catalog:
    cat = Catalog(client.app)
    await cat.track("Halo", "Beyoncé", album="I Am... Sasha Fierce", genre="Pop", year=2008, plays=50)
    await cat.track("Formation", "Beyoncé", album="Lemonade", genre="Pop", year=2016, plays=90)
    await cat.track("Hold Up", "Beyoncé", album="Lemonade", genre="Pop", year=2016, plays=10)
    await cat.track(
        "Feeling Good", "Nina Simone", album="I Put a Spell on You", genre="Jazz", year=1965, plays=70
    )
    await cat.track("Sinnerman", "Nina Simone", album="Pastel Blues", genre="Jazz", year=1965, plays=30)
    await cat.track("So What", "Miles Davis", album="Kind of Blue", genre="Jazz", year=1959, plays=80)
    await cat.track("Blue in Green", "Miles Davis", album="Kind of Blue", genre="Jazz", year=1959, plays=40)
    await cat.track("Unfinished Song", "Miles Davis", genre="Jazz", year=1970, status="processing")
    await client.app[keys.SEARCH].sync()
    return cat


async def _search(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    resp = await client.get("/api/v1/search", params={k: str(v) for k, v in params.items()}, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def _titles(body: dict[str, Any], kind: str = "tracks") -> list[str]:
    return [i["title" if kind != "artists" else "name"] for i in body[kind]["items"]]


async def test_accents_case_and_prefix(client: TestClient) -> None:
    await _catalog(client)
    _, headers = await signed_in(client)
    body = await _search(client, headers, q="beyonce")
    assert [a["name"] for a in body["artists"]["items"]] == ["Beyoncé"]
    assert set(_titles(body)) == {"Halo", "Formation", "Hold Up"}
    assert body["tracks"]["total"] == 3
    assert body["tracks"]["items"][0]["artist_name"] == "Beyoncé"
    # As you type: every prefix of the word finds the same artist, whatever the case.
    for typed in ("B", "BEY", "beyon", "BeYoNcÉ"):
        body = await _search(client, headers, q=typed, type="artist")
        assert "Beyoncé" in [a["name"] for a in body["artists"]["items"]], typed
    # Several words: all must match; the last may be a prefix.
    body = await _search(client, headers, q="nina feel")
    assert _titles(body) == ["Feeling Good"]
    body = await _search(client, headers, q="kind of bl", type="album")
    assert _titles(body, "albums") == ["Kind of Blue"]


async def test_one_typo_in_long_words_only(client: TestClient) -> None:
    await _catalog(client)
    _, headers = await signed_in(client)
    assert _titles(await _search(client, headers, q="formatoin")) == ["Formation"]  # swap
    assert _titles(await _search(client, headers, q="sinerman")) == ["Sinnerman"]  # deletion
    assert _titles(await _search(client, headers, q="lemonadr", type="album"), "albums") == ["Lemonade"]
    # Four letters: no typo tolerance ("halo" ≠ "hale").
    assert (await _search(client, headers, q="hale"))["tracks"]["total"] == 0
    # Two typos: no match.
    assert (await _search(client, headers, q="formtoin"))["tracks"]["total"] == 0


async def test_filters(client: TestClient) -> None:
    cat = await _catalog(client)
    _, headers = await signed_in(client)
    assert set(_titles(await _search(client, headers, q="si", genre="jazz"))) == {"Sinnerman", "Feeling Good"}
    assert (await _search(client, headers, q="si", genre="pop"))["tracks"]["total"] == 0
    body = await _search(client, headers, q="blue", genre="JAZZ")
    assert set(_titles(body)) == {
        "Blue in Green",
        "Sinnerman",
        "So What",
    }  # title, album "Pastel Blues", "Kind of Blue"
    body = await _search(client, headers, q="blue", genre="Pop")
    assert body["tracks"]["total"] == 0
    body = await _search(client, headers, q="miles", year_from=1960, year_to=1969)
    assert body["tracks"]["total"] == 0
    body = await _search(client, headers, q="nina", year_from=1960, year_to=1969)
    assert set(_titles(body)) == {"Feeling Good", "Sinnerman"}
    body = await _search(client, headers, q="blue", artist_id=cat.artists["Nina Simone"]["_id"])
    assert _titles(body) == ["Sinnerman"]
    # Albums and artists follow the genre filter through their tracks.
    body = await _search(client, headers, q="b", genre="jazz", type="album,artist")
    assert "Lemonade" not in _titles(body, "albums")
    assert [a["name"] for a in body["artists"]["items"]] == []


async def test_sorts_and_pagination_totals(client: TestClient) -> None:
    await _catalog(client)
    _, headers = await signed_in(client)
    body = await _search(client, headers, q="miles", sort="plays", type="track")
    assert _titles(body) == ["So What", "Blue in Green"]
    body = await _search(client, headers, q="beyonce", sort="title", type="track")
    assert _titles(body) == ["Formation", "Halo", "Hold Up"]
    body = await _search(client, headers, q="beyonce", sort="year", type="track")
    assert [t["release_year"] for t in body["tracks"]["items"]] == [2016, 2016, 2008]
    # Relevance: a title match beats an album match, then plays break ties.
    body = await _search(client, headers, q="blue", type="track")
    assert _titles(body)[0] == "Blue in Green"
    pages = [
        await _search(client, headers, q="beyonce", sort="title", type="track", limit=2, offset=offset)
        for offset in (0, 2, 4)
    ]
    assert [p["tracks"]["total"] for p in pages] == [3, 3, 3]
    assert [_titles(p) for p in pages] == [["Formation", "Halo"], ["Hold Up"], []]
    # Kinds not asked for come back empty.
    assert pages[0]["albums"] == {"items": [], "total": 0}


async def test_listeners_see_only_ready_tracks(client: TestClient) -> None:
    cat = Catalog(client.app)
    _, listener = await signed_in(client)
    owner, owner_headers = await signed_in(client, "artist")
    _, admin = await signed_in(client, "admin")
    await cat.track("Unfinished Song", "Miles Davis", status="processing", owner_id=owner["_id"])
    await cat.track("Broken Song", "Miles Davis", status="failed", owner_id=owner["_id"])
    await cat.track("Finished Song", "Miles Davis")
    await client.app[keys.SEARCH].sync()
    assert _titles(await _search(client, listener, q="song")) == ["Finished Song"]
    assert (await _search(client, listener, q="song"))["tracks"]["total"] == 1
    assert len(_titles(await _search(client, owner_headers, q="song"))) == 3
    assert len(_titles(await _search(client, admin, q="song"))) == 3


async def test_changes_reach_the_index(client: TestClient) -> None:
    cat = Catalog(client.app)
    _, headers = await signed_in(client)
    admin, admin_headers = await signed_in(client, "admin")
    track = await cat.track("Blackbird", "The Beatles", genre="Rock")
    search = client.app[keys.SEARCH]
    await search.sync()
    assert _titles(await _search(client, headers, q="blackb")) == ["Blackbird"]
    # Through the catalog API: the library event re-indexes at once.
    resp = await client.patch(
        f"/api/v1/tracks/{track['_id']}", json={"title": "Yesterday"}, headers=admin_headers
    )
    assert resp.status == 200, await resp.text()
    assert (await _search(client, headers, q="blackb"))["tracks"]["total"] == 0
    assert _titles(await _search(client, headers, q="yesterd")) == ["Yesterday"]
    # Renaming the artist re-indexes its tracks.
    artist_id = cat.artists["The Beatles"]["_id"]
    resp = await client.patch(
        f"/api/v1/artists/{artist_id}", json={"name": "Les Scarabées"}, headers=admin_headers
    )
    assert resp.status == 200, await resp.text()
    assert _titles(await _search(client, headers, q="scarabees", type="track")) == ["Yesterday"]
    # Deleted by another process (a store write, no event here): its tombstone reaches the index at
    # the next catch-up, for tracks and albums alike.
    await client.app[keys.TRACKS].delete(track["_id"])
    album = await cat.album("Abbey Road", "The Beatles", 1969)  # renamed above; same artist
    await search.sync()
    assert _titles(await _search(client, headers, q="abbey", type="album"), "albums") == ["Abbey Road"]
    await client.app[keys.CATALOG].albums.delete(album["_id"])
    await search.sync()
    assert await _search(client, headers, q="yesterday") == await _search(client, headers, q="abbey")
    assert (await _search(client, headers, q="yesterday"))["tracks"] == {"items": [], "total": 0}
    assert (await _search(client, headers, q="abbey"))["albums"] == {"items": [], "total": 0}
    # Deleted by hand in the database, leaving no tombstone: gone after the periodic reconcile.
    other = await cat.track("Yesterday Once More", "Carpenters")
    await search.sync()
    assert _titles(await _search(client, headers, q="yesterday")) == ["Yesterday Once More"]
    await client.app[keys.DB]["tracks"].delete_one({"_id": other["_id"]})
    await search.reconcile()
    assert (await _search(client, headers, q="yesterday"))["tracks"] == {"items": [], "total": 0}
    assert admin["_id"]


@pytest.mark.standin_deviation(reason=NESTED_PROJECTION)
async def test_results_show_what_the_catalog_shows(client: TestClient) -> None:
    """Pages come from the index's own copy of the documents: they must match the catalog's views."""
    cat = await _catalog(client)
    _, headers = await signed_in(client)
    lemonade = cat.albums["Lemonade"]["_id"]
    tracks = client.app[keys.TRACKS]
    body = await _search(client, headers, q="lemonade", type="track", sort="title")
    formation, hold = (t["id"] for t in body["tracks"]["items"])
    await tracks.update(hold, {"cover": f"covers/{hold}.jpg", "track_no": 2, "error": None})
    await tracks.update(
        formation,
        {
            "track_no": 1,
            "loudness": {"integrated_lufs": -9.5},
            "original": {"source": "upload", "path": f"originals/{formation}/original.flac", "size": 9},
            "renditions": [{"name": "128k", "codec": "mp4a.40.2", "bitrate": 128_000}],
        },
    )
    await client.app[keys.SEARCH].sync()
    body = await _search(client, headers, q="lemonade beyonce", sort="title")
    assert [t["title"] for t in body["tracks"]["items"]] == ["Formation", "Hold Up"]
    for item in body["tracks"]["items"]:
        resp = await client.get(f"/api/v1/tracks/{item['id']}", headers=headers)
        assert item == await resp.json()
    assert body["tracks"]["items"][1]["cover_url"] is not None
    assert body["tracks"]["items"][0]["source"] == "upload"
    assert body["tracks"]["items"][0]["renditions"][0]["bitrate"] == 128_000
    (album,) = body["albums"]["items"]
    resp = await client.get(f"/api/v1/albums/{lemonade}", headers=headers)
    detail = await resp.json()
    assert album == {k: v for k, v in detail.items() if k not in ("artist", "tracks")}
    assert album["cover_url"] == body["tracks"]["items"][1]["cover_url"]
    (artist,) = (await _search(client, headers, q="beyonce", type="artist"))["artists"]["items"]
    resp = await client.get(f"/api/v1/artists/{artist['id']}", headers=headers)
    assert artist == {k: v for k, v in (await resp.json()).items() if k in artist}


async def test_bad_input(client: TestClient) -> None:
    _, headers = await signed_in(client)
    for params in (
        {"q": ""},
        {"q": "   "},
        {"q": "!!!"},
        {"q": "x" * 101},
        {"q": "a", "sort": "loudness"},
        {"q": "a", "type": "track,song"},
        {"q": "a", "limit": "0"},
        {"q": "a", "year_from": "abc"},
        {},
    ):
        resp = await client.get("/api/v1/search", params=params, headers=headers)
        assert resp.status == 400, params
        assert error_code(await resp.json()) in ("invalid_input", "empty_query"), params
    # A large limit is capped, not refused.
    resp = await client.get("/api/v1/search", params={"q": "a", "limit": "1000"}, headers=headers)
    assert resp.status == 200
    resp = await client.get("/api/v1/search", params={"q": "a"})
    assert resp.status == 401


async def test_tombstones_are_pruned_after_a_day(client: TestClient) -> None:
    cat = Catalog(client.app)
    old = await cat.track("Old News", "Nobody")
    new = await cat.track("Fresh News", "Nobody")
    tracks = client.app[keys.TRACKS]
    await tracks.delete(old["_id"])
    await tracks.delete(new["_id"])
    deletions = client.app[keys.DB]["deletions"]
    await deletions.update_one(
        {"doc_id": old["_id"]},
        {"$set": {"deleted_at": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)}},
    )
    await client.app[keys.SEARCH].reconcile()
    left = await deletions.find({}).to_list(None)
    assert [(d["kind"], d["doc_id"]) for d in left] == [("track", new["_id"])]


async def test_the_whole_catalog_pages_by_title_for_each_viewer(client: TestClient) -> None:
    """The listing apps sync a library from (an empty ``search3``): every title once, in one order,
    without another viewer's unfinished tracks, and following changes."""
    from server.auth.service import Principal

    cat = Catalog(client.app)
    owner, _ = await signed_in(client, "artist")
    titles = [f"Song {n:03d}" for n in range(120)]
    for title in reversed(titles):
        await cat.track(title, "Many")
    await cat.track("Song 050b", "Many", status="processing", owner_id=owner["_id"])
    search = client.app[keys.SEARCH]
    await search.sync()

    def who(user_id: str, *roles: str) -> Principal:
        return Principal(user_id=user_id, username=user_id, roles=frozenset(roles), login_id="l", via="token")

    async def everything(principal: Principal, page: int) -> tuple[list[str], int]:
        seen: list[str] = []
        offset = 0
        while True:
            found, total = await search.list_tracks(principal, offset, page)
            seen += [named.track.title for named in found]
            offset += page
            if len(found) < page:
                return seen, total

    listener = who("someone", "listener")
    assert await everything(listener, 7) == (titles, 120)
    assert await everything(listener, 500) == (titles, 120)
    mine = sorted([*titles, "Song 050b"])
    assert await everything(who(owner["_id"], "artist"), 13) == (mine, 121)
    assert await everything(who("admin", "admin"), 1000) == (mine, 121)
    # Changes are seen at once: a rename moves a track, a removal closes the gap.
    first, _ = await search.list_tracks(listener, 0, 1)
    assert (first[0].track.title, first[0].artist_name, first[0].album_title) == ("Song 000", "Many", None)
    track_id = first[0].track.id
    await client.app[keys.TRACKS].update(track_id, {"title": "Zz Last"})
    await search.refresh_one("track", track_id)
    seen, total = await everything(listener, 50)
    assert seen == [*titles[1:], "Zz Last"] and total == 120
    await client.app[keys.TRACKS].delete(track_id)
    await search.sync()
    assert await everything(listener, 50) == (titles[1:], 119)
    albums, artists = await search.list_albums(0, 10), await search.list_artists(0, 10)
    assert albums == ([], 0) and [a.name for a in artists[0]] == ["Many"]
