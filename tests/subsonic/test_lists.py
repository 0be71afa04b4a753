"""Lists and folder browsing, through raw requests in JSON (and XML where the shape matters)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

from aiohttp.test_utils import TestClient

from server import keys
from tests.subsonic.conftest import AppAccount, token_auth

NS = "{http://subsonic.org/restapi}"


async def call(client: TestClient, account: AppAccount, method: str, **params: Any) -> dict[str, Any]:
    resp = await client.get(
        f"/rest/{method}", params={**token_auth(account), "f": "json", "v": "1.16.1", "c": "t", **params}
    )
    body = (await resp.json())["subsonic-response"]
    assert body["status"] == "ok", body
    return body


async def test_album_lists_of_every_type(client, library):
    listener: AppAccount = library["listener"]
    for kind in ("random", "newest", "frequent", "alphabeticalByName", "alphabeticalByArtist"):
        albums = (await call(client, listener, "getAlbumList2", type=kind))["albumList2"]["album"]
        assert [a["id"] for a in albums] == [library["album_id"]], kind
        assert albums[0]["songCount"] == 2 and albums[0]["artist"] == "The Larks"
    assert (await call(client, listener, "getAlbumList2", type="byGenre", genre="nope"))["albumList2"][
        "album"
    ] == []
    assert (await call(client, listener, "getAlbumList2", type="starred"))["albumList2"]["album"] == []
    await call(client, listener, "star", albumId=library["album_id"])
    starred = (await call(client, listener, "getAlbumList2", type="starred"))["albumList2"]["album"]
    assert [a["id"] for a in starred] == [library["album_id"]]
    await call(client, listener, "setRating", id=library["album_id"], rating="4")
    assert len((await call(client, listener, "getAlbumList2", type="highest"))["albumList2"]["album"]) == 1
    assert (await call(client, listener, "getAlbumList2", type="recent"))["albumList2"]["album"] == []
    await call(client, listener, "scrobble", id=library["tracks"][0]["id"], submission="true")
    assert len((await call(client, listener, "getAlbumList2", type="recent"))["albumList2"]["album"]) == 1
    legacy = (await call(client, listener, "getAlbumList", type="newest"))["albumList"]["album"]
    assert legacy[0]["isDir"] is True and legacy[0]["title"] == "Day"
    resp = await client.get(
        "/rest/getAlbumList2", params={"type": "sideways", "u": listener.username, "p": listener.password}
    )
    error = ET.fromstring(await resp.text()).find(NS + "error")
    assert error is not None and error.get("code") == "0"


async def test_random_songs_genres_and_top_songs(client, library):
    listener: AppAccount = library["listener"]
    titles = {
        s["title"] for s in (await call(client, listener, "getRandomSongs", size="5"))["randomSongs"]["song"]
    }
    assert titles == {"Dawn Chorus", "Evening Hymn"}
    genres = (await call(client, listener, "getGenres"))["genres"].get("genre", [])
    assert all(g["songCount"] >= 1 for g in genres)
    top = (await call(client, listener, "getTopSongs", artist="the larks"))["topSongs"]["song"]
    assert {s["title"] for s in top} == {"Dawn Chorus", "Evening Hymn"}
    assert (await call(client, listener, "getTopSongs", artist="nobody"))["topSongs"]["song"] == []
    similar = (await call(client, listener, "getSimilarSongs2", id=library["tracks"][0]["id"]))[
        "similarSongs2"
    ]
    assert all(s["id"] != library["tracks"][0]["id"] for s in similar.get("song", []))


async def test_folder_browsing_and_info(client, library):
    listener: AppAccount = library["listener"]
    indexes = (await call(client, listener, "getIndexes"))["indexes"]["index"]
    larks = [a for i in indexes for a in i["artist"] if a["name"] == "The Larks"]
    assert [i["name"] for i in indexes if any(a["name"] == "The Larks" for a in i["artist"])] == ["L"]
    artist_dir = (await call(client, listener, "getMusicDirectory", id=larks[0]["id"]))["directory"]
    assert [c["title"] for c in artist_dir["child"]] == ["Day"] and artist_dir["child"][0]["isDir"] is True
    album_dir = (await call(client, listener, "getMusicDirectory", id=artist_dir["child"][0]["id"]))[
        "directory"
    ]
    assert [c["title"] for c in album_dir["child"]] == ["Dawn Chorus", "Evening Hymn"]
    assert album_dir["child"][0]["isDir"] is False and album_dir["parent"] == larks[0]["id"]
    info = (await call(client, listener, "getArtistInfo2", id=larks[0]["id"]))["artistInfo2"]
    assert info["similarArtist"] == []
    assert "albumInfo" in await call(client, listener, "getAlbumInfo2", id=library["album_id"])
    song = library["tracks"][0]
    lyrics = await call(client, listener, "getLyricsBySongId", id=song["id"])
    assert lyrics["lyricsList"]["structuredLyrics"] == []
    # The same lyrics the API serves (set here by the track's artist).
    resp = await client.put(
        f"/api/v1/tracks/{song['id']}/lyrics",
        json={"text": "[00:01.00]Morning\n[00:02.50]comes", "lang": "eng"},
        headers=library["artist"].headers,
    )
    assert resp.status == 200
    (structured,) = (await call(client, listener, "getLyricsBySongId", id=song["id"]))["lyricsList"][
        "structuredLyrics"
    ]
    assert structured == {
        "displayArtist": "The Larks",
        "displayTitle": song["title"],
        "lang": "eng",
        "offset": 0,
        "synced": True,
        "line": [{"start": 1000, "value": "Morning"}, {"start": 2500, "value": "comes"}],
    }


async def test_now_playing_shows_the_callers_own_playback(client, library):
    listener: AppAccount = library["listener"]
    assert (await call(client, listener, "getNowPlaying"))["nowPlaying"]["entry"] == []
    await call(client, listener, "scrobble", id=library["tracks"][1]["id"], submission="false")
    (entry,) = (await call(client, listener, "getNowPlaying"))["nowPlaying"]["entry"]
    assert entry["id"] == library["tracks"][1]["id"] and entry["username"] == listener.username
    assert entry["playerName"] == "app:t"


async def test_admins_start_scans_of_the_library_folders_and_listeners_cannot(
    aiohttp_client, settings, tmp_path
):
    import asyncio
    import dataclasses

    from server.app import create_app
    from tests.audio import make_audio
    from tests.lane_server import LaneTestServer
    from tests.subsonic.conftest import app_account

    library_dir = tmp_path / "library"
    library_dir.mkdir()
    make_audio(library_dir / "found.ogg", "ogg", 1.0, tags={"title": "Found", "artist": "Scanned"})
    client = await aiohttp_client(
        LaneTestServer(create_app(dataclasses.replace(settings, library_folders=str(library_dir))))
    )
    admin = await app_account(client, "admin")
    listener = await app_account(client, "listener")
    resp = await client.get("/rest/startScan", params={"u": listener.username, "p": listener.password})
    assert ET.fromstring(await resp.text()).find(NS + "error").get("code") == "50"
    status = (await call(client, admin, "startScan"))["scanStatus"]
    assert set(status) == {"scanning", "count"}
    for _ in range(200):
        status = (await call(client, admin, "getScanStatus"))["scanStatus"]
        if not status["scanning"]:
            break
        await asyncio.sleep(0.1)
    assert status == {"scanning": False, "count": 1}
    found = (await call(client, admin, "search3", query="found"))["searchResult3"]
    assert [s["title"] for s in found.get("song", [])] == ["Found"]


async def test_songs_carry_the_callers_star_and_rating_everywhere(client, library):
    listener: AppAccount = library["listener"]
    first, second = (t["id"] for t in library["tracks"])
    await call(client, listener, "star", id=first)
    await call(client, listener, "setRating", id=second, rating="3")
    songs = (await call(client, listener, "getAlbum", id=library["album_id"]))["album"]["song"]
    by_id = {s["id"]: s for s in songs}
    assert by_id[first]["starred"].endswith("Z") and "userRating" not in by_id[first]
    assert by_id[second]["userRating"] == 3 and "starred" not in by_id[second]
    assert (await call(client, listener, "getSong", id=first))["song"]["starred"] == by_id[first]["starred"]
    # Another user's view carries their own marks, not these.
    from tests.subsonic.conftest import app_account

    other = await app_account(client, "listener")
    theirs = (await call(client, other, "getAlbum", id=library["album_id"]))["album"]["song"]
    assert all("starred" not in s and "userRating" not in s for s in theirs)


async def test_cover_art_comes_at_the_size_asked(client, library, tmp_path):
    import json
    import subprocess

    listener: AppAccount = library["listener"]
    auth = token_auth(listener)
    sizes = {}
    for size in (None, 16):
        params = {**auth, "id": library["tracks"][0]["id"], **({"size": str(size)} if size else {})}
        resp = await client.get("/rest/getCoverArt", params=params)
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        image = tmp_path / f"cover-{size}.jpg"
        image.write_bytes(await resp.read())
        probe = await asyncio.to_thread(
            subprocess.run,
            ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "json", str(image)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        stream = json.loads(probe.stdout)["streams"][0]
        sizes[size] = (stream["width"], stream["height"])
    assert sizes[None] == (64, 48) and max(sizes[16]) <= 16
    assert list(client.app[keys.SETTINGS].tmp_dir.iterdir()) == []
