"""Three independent client libraries browse artist → album → song, search, stream a range and fetch
a cover: py-opensonic (async, apiKey), knuckles (GET without ``.view``, token) and py-sonic (POST,
``.view``, token)."""

from __future__ import annotations

import asyncio

import aiohttp
import knuckles
import libsonic
import pytest
from libopensonic import AsyncConnection

from server import keys
from tests.helpers import decoded_seconds, signed_in
from tests.subsonic.conftest import AppAccount, app_account, py_sonic, token_auth


async def test_py_opensonic_browses_searches_streams_with_an_api_key(client, library):
    listener: AppAccount = library["listener"]
    conn = AsyncConnection(
        f"http://{client.server.host}",
        api_key=listener.app_password["api_key"],
        port=client.server.port,
    )
    try:
        assert await conn.ping() is True
        names = {e.name for e in await conn.get_open_subsonic_extensions()}
        assert "apiKeyAuthentication" in names
        artists = await conn.get_artists()
        found = [a for index in artists.index for a in index.artist if a.name == "The Larks"]
        assert len(found) == 1 and found[0].id == library["artist_id"] and found[0].album_count == 1
        artist = await conn.get_artist(found[0].id)
        assert [a.name for a in artist.album] == ["Day"] and artist.album[0].song_count == 2
        album = await conn.get_album(artist.album[0].id)
        assert [s.title for s in album.song] == ["Dawn Chorus", "Evening Hymn"]
        song = await conn.get_song(album.song[0].id)
        assert song.suffix == "flac" and song.content_type == "audio/flac" and song.duration == 2
        assert song.album_id == library["album_id"] and song.artist_id == library["artist_id"]
        result = await conn.search3("dawn")
        assert [s.id for s in result.song] == [song.id]
        # RFC 9110 §14.2 defines Range for GET only: over POST (py-opensonic's default, formPost) the
        # whole file comes back, as the RFC wants; a GET gets its range.
        resp = await conn.stream(song.id, byte_range="bytes=0-3")
        assert resp.status == 200 and (await resp.read())[:4] == b"fLaC"
        conn.use_get = True
        resp = await conn.stream(song.id, byte_range="bytes=0-3")
        assert resp.status == 206 and await resp.read() == b"fLaC"
        cover = await conn.get_cover_art(song.id)
        assert cover.status == 200 and (await cover.read())[:2] == b"\xff\xd8"
    finally:
        await conn.cleanup()


async def test_knuckles_browses_with_get_and_no_view_suffix(client, library):
    listener: AppAccount = library["listener"]
    sub = knuckles.Subsonic(
        f"{client.server.host}:{client.server.port}",
        listener.username,
        listener.password,
        "knuckles-test",
        use_https=False,
    )
    assert await asyncio.to_thread(sub.system.ping)
    album = await asyncio.to_thread(sub.browsing.get_album, library["album_id"])
    assert album.name == "Day" and [t.title for t in album.songs] == ["Dawn Chorus", "Evening Hymn"]
    result = await asyncio.to_thread(sub.searching.search, "hymn")
    assert [s.title for s in result.songs] == ["Evening Hymn"]
    url = await asyncio.to_thread(sub.media_retrieval.stream, library["tracks"][1]["id"])
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Range": "bytes=-4"}) as resp:
        assert resp.status == 206 and len(await resp.read()) == 4


async def test_empty_query_pages_through_the_whole_library_in_a_stable_order(client, library):
    listener: AppAccount = library["listener"]
    conn = py_sonic(client, listener)
    pages = []
    for offset in (0, 1, 2):
        result = await asyncio.to_thread(
            conn.search3, '""', artistCount=0, albumCount=0, songCount=1, songOffset=offset
        )
        pages.append([s["title"] for s in result["searchResult3"].get("song", [])])
    assert pages == [["Dawn Chorus"], ["Evening Hymn"], []]
    songs = (await asyncio.to_thread(conn.getAlbum, library["album_id"]))["album"]["song"]
    assert [s["track"] for s in songs] == [1, 2]


async def test_py_sonic_makes_and_edits_a_playlist_the_web_api_sees(client, library):
    listener: AppAccount = library["listener"]
    conn = py_sonic(client, listener)
    first, second = (t["id"] for t in library["tracks"])
    made = (await asyncio.to_thread(conn.createPlaylist, name="  Road   trip ", songIds=[first, second]))[
        "playlist"
    ]
    assert made["name"] == "Road trip" and [e["id"] for e in made["entry"]] == [first, second]
    playlist_id = made["id"]
    await asyncio.to_thread(
        conn.updatePlaylist,
        playlist_id,
        name="Night drive",
        comment="late",
        songIdsToAdd=[first],
        songIndexesToRemove=[0],
    )
    got = (await asyncio.to_thread(conn.getPlaylist, playlist_id))["playlist"]
    assert (got["name"], got["comment"], got["public"]) == ("Night drive", "late", False)
    # py-sonic has no "public"; the parameter itself, as a form field:
    resp = await client.post(
        "/rest/updatePlaylist.view",
        data={"playlistId": playlist_id, "public": "true", "f": "json", **token_auth(listener)},
    )
    assert (await resp.json())["subsonic-response"]["status"] == "ok"
    assert [e["id"] for e in got["entry"]] == [second, first] and got["songCount"] == 2
    listed = (await asyncio.to_thread(conn.getPlaylists))["playlists"]["playlist"]
    assert [p["id"] for p in listed] == [playlist_id] and listed[0]["owner"] == listener.username
    # The web API sees the same playlist.
    web = await (await client.get(f"/api/v1/playlists/{playlist_id}", headers=listener.headers)).json()
    assert [t["id"] for t in web["tracks"]] == [second, first] and web["is_public"] is True
    # Someone else can read it (public) but not change or delete it.
    other = await app_account(client, "listener")
    stranger = py_sonic(client, other)
    assert (await asyncio.to_thread(stranger.getPlaylist, playlist_id))["playlist"][
        "owner"
    ] == listener.username
    with pytest.raises(libsonic.errors.SonicError):
        await asyncio.to_thread(stranger.deletePlaylist, playlist_id)
    await asyncio.to_thread(conn.deletePlaylist, playlist_id)
    assert (await client.get(f"/api/v1/playlists/{playlist_id}", headers=listener.headers)).status == 404


async def test_stars_scrobbles_and_the_play_queue_follow_the_listener(client, library):
    listener: AppAccount = library["listener"]
    conn = py_sonic(client, listener, appName="Phone")
    first, second = (t["id"] for t in library["tracks"])
    await asyncio.to_thread(
        conn.star, sids=[first], albumIds=[library["album_id"]], artistIds=[library["artist_id"]]
    )
    starred = (await asyncio.to_thread(conn.getStarred2))["starred2"]
    assert [s["id"] for s in starred["song"]] == [first] and starred["song"][0]["starred"].endswith("Z")
    assert [a["id"] for a in starred["album"]] == [library["album_id"]]
    assert [a["id"] for a in starred["artist"]] == [library["artist_id"]]
    await asyncio.to_thread(conn.unstar, sids=[first])
    assert "song" not in (await asyncio.to_thread(conn.getStarred2))["starred2"] or not (
        await asyncio.to_thread(conn.getStarred2)
    )["starred2"].get("song")

    # Now playing: the app's device plays, and the web sees it; streaming alone never counts.
    async with aiohttp.ClientSession() as http:
        await (await http.get(_stream_url(client, listener, first))).read()
    await asyncio.to_thread(conn.scrobble, first, False)
    state = await (await client.get("/api/v1/playback", headers=listener.headers)).json()
    assert state["track_id"] == first and state["is_playing"] is True and state["device_id"] == "app:Phone"
    # A submission counts the play by the server's rule (a play it never saw: one counted listen).
    # (Read from the store: the catalog's cached view of a count may lag up to 300 s.)
    before = (await client.app[keys.TRACKS].get(second)).play_count
    await asyncio.to_thread(conn.scrobble, second, True)
    assert (await client.app[keys.TRACKS].get(second)).play_count == before + 1
    history = await (await client.get("/api/v1/me/history", headers=listener.headers)).json()
    assert history["items"][0]["track_id"] == second and history["items"][0]["counted"] is True

    # The app saves its queue: the browser sees where to resume, paused, on the app's device.
    await asyncio.to_thread(conn.savePlayQueue, [first, second], current=second, position=1234)
    state = await (await client.get("/api/v1/playback", headers=listener.headers)).json()
    assert (state["track_id"], state["position_ms"], state["is_playing"]) == (second, 1234, False)
    queue = (await asyncio.to_thread(conn.getPlayQueue))["playQueue"]
    assert [e["id"] for e in queue["entry"]] == [first, second] and queue["current"] == second
    assert queue["position"] == 1234 and queue["changedBy"] == "app:Phone"
    # The browser plays on from there and seeks: the app resumes where the browser is.
    resp = await client.post(
        "/api/v1/playback/play",
        json={"track_id": first, "position_ms": 500, "device_id": "web"},
        headers=listener.headers,
    )
    assert resp.status == 200
    await client.post("/api/v1/playback/pause", headers=listener.headers)
    queue = (await asyncio.to_thread(conn.getPlayQueue))["playQueue"]
    assert queue["current"] == first and 500 <= queue["position"] < 2000 and queue["changedBy"] == "web"


def _stream_url(client, account: AppAccount, track_id: str) -> str:
    from urllib.parse import urlencode

    return (
        str(client.make_url("/rest/stream"))
        + "?"
        + urlencode({**token_auth(account), "id": track_id, "v": "1.16.1", "c": "t"})
    )


async def test_ffmpeg_plays_hls_and_stream_urls_built_as_an_app_builds_them(client, library):
    from urllib.parse import urlencode

    listener: AppAccount = library["listener"]
    track_id = library["tracks"][0]["id"]
    query = {**token_auth(listener), "v": "1.16.1", "c": "ffmpeg", "id": track_id}
    base = str(client.make_url("/rest"))
    for url in (
        f"{base}/hls.m3u8?{urlencode(query)}",
        f"{base}/hls.m3u8?{urlencode({**query, 'bitRate': 64})}",
        f"{base}/stream.view?{urlencode(query)}",
    ):
        assert abs(await decoded_seconds(url) - 2.0) < 0.3, url
    resp = await client.get("/rest/hls.m3u8", params={**query, "bitRate": ["64", "256"]})
    lines = [line for line in (await resp.text()).splitlines() if line and not line.startswith("#")]
    assert resp.content_type == "application/vnd.apple.mpegurl" and len(lines) == 2
    assert all(line.startswith(str(client.make_url("/hls/"))) for line in lines)
    resp = await client.get("/rest/hls.m3u8", params={**query, "bitRate": "64"})
    (only,) = [line for line in (await resp.text()).splitlines() if line and not line.startswith("#")]
    assert "/64k/" in only


async def test_a_deleted_accounts_stars_and_ratings_go_with_it(client, library):
    listener: AppAccount = library["listener"]
    conn = py_sonic(client, listener, appName="Phone")
    first = library["tracks"][0]["id"]
    await asyncio.to_thread(conn.star, sids=[first], albumIds=[library["album_id"]])
    await asyncio.to_thread(conn.setRating, first, 4)
    marks = client.app[keys.DB]["annotations"]
    assert await marks.count_documents({"user_id": listener.user["_id"]}) == 2
    _, admin_h = await signed_in(client, "admin")
    assert (await client.delete(f"/api/v1/users/{listener.user['_id']}", headers=admin_h)).status == 204
    assert await marks.count_documents({"user_id": listener.user["_id"]}) == 0
