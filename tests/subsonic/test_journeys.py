"""The whole journey of an app, once per client library: sign in, browse artist → album → song, search,
stream, fetch a cover, star, scrobble, make and edit a playlist, save and read a play queue. What
each library did is then read back through the web API, the server's own view of the listener.

py-sonic (form POST, ``.view``, token), py-opensonic (async, apiKey, GET) and knuckles (GET without
``.view``, token) build their requests each their own way, which is the point of running all three.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import knuckles
from libopensonic import AsyncConnection

from server import keys
from tests.subsonic.conftest import AppAccount, py_sonic


async def server_view(client, listener: AppAccount, playlist_id: str) -> dict:
    """What the web API shows of the listener after a journey."""
    user_id = listener.user["_id"]
    history = await (await client.get("/api/v1/me/history", headers=listener.headers)).json()
    playlist = await (await client.get(f"/api/v1/playlists/{playlist_id}", headers=listener.headers)).json()
    playback = await (await client.get("/api/v1/playback", headers=listener.headers)).json()
    marks = await client.app[keys.ANNOTATIONS].for_items(user_id, [t["id"] for t in playlist["tracks"]])
    return {
        "counted": [i["track_id"] for i in history["items"] if i["counted"]],
        "playlist": (playlist["name"], [t["id"] for t in playlist["tracks"]]),
        "playback": (playback["track_id"], playback["position_ms"], playback["is_playing"]),
        "starred": sorted(i for i, m in marks.items() if m.starred_at),
    }


def expected_view(first: str, second: str) -> dict:
    return {
        "counted": [second],
        "playlist": ("Evening", [second, first]),
        "playback": (second, 1500, False),
        "starred": [first],
    }


async def test_py_sonic_journey(client, library):
    listener: AppAccount = library["listener"]
    first, second = (t["id"] for t in library["tracks"])
    conn = py_sonic(client, listener, appName="py-sonic")

    def journey() -> str:
        assert conn.ping()
        index = conn.getArtists()["artists"]["index"]
        (artist,) = [a for i in index for a in i["artist"] if a["name"] == "The Larks"]
        (album,) = conn.getArtist(artist["id"])["artist"]["album"]
        songs = conn.getAlbum(album["id"])["album"]["song"]
        assert [s["id"] for s in songs] == [first, second]
        assert conn.getSong(first)["song"]["title"] == "Dawn Chorus"
        assert [s["id"] for s in conn.search3("evening")["searchResult3"]["song"]] == [second]
        # Over POST, as py-sonic sends it, Range does not apply (RFC 9110 §14.2): the whole file.
        with conn.stream(first) as resp:
            assert resp.status == 200 and resp.headers["Accept-Ranges"] == "bytes"
            assert resp.read()[:4] == b"fLaC"
        with conn.getCoverArt(first) as resp:
            assert resp.read()[:2] == b"\xff\xd8"
        conn.star(sids=[first])
        conn.scrobble(second, True)
        made = conn.createPlaylist(name="Morning", songIds=[first])["playlist"]
        conn.updatePlaylist(made["id"], name="Evening", songIdsToAdd=[second, first], songIndexesToRemove=[0])
        conn.savePlayQueue([first, second], current=second, position=1500)
        queue = conn.getPlayQueue()["playQueue"]
        assert [e["id"] for e in queue["entry"]] == [first, second] and queue["position"] == 1500
        return made["id"]

    playlist_id = await asyncio.to_thread(journey)
    assert await server_view(client, listener, playlist_id) == expected_view(first, second)


async def test_py_opensonic_journey(client, library):
    listener: AppAccount = library["listener"]
    first, second = (t["id"] for t in library["tracks"])
    conn = AsyncConnection(
        f"http://{client.server.host}", api_key=listener.app_password["api_key"], port=client.server.port
    )
    conn.use_get = True
    try:
        assert await conn.ping() is True
        artists = await conn.get_artists()
        (artist,) = [a for index in artists.index for a in index.artist if a.name == "The Larks"]
        (album,) = (await conn.get_artist(artist.id)).album
        assert [s.id for s in (await conn.get_album(album.id)).song] == [first, second]
        assert (await conn.get_song(first)).title == "Dawn Chorus"
        assert [s.id for s in (await conn.search3("evening")).song] == [second]
        resp = await conn.stream(first, byte_range="bytes=0-3")
        assert resp.status == 206 and await resp.read() == b"fLaC"
        cover = await conn.get_cover_art(first)
        assert (await cover.read())[:2] == b"\xff\xd8"
        assert await conn.star(sids=[first])
        assert await conn.scrobble(second, submission=True)
        assert await conn.create_playlist(name="Morning", song_ids=[first])
        (made,) = await conn.get_playlists()
        assert await conn.update_playlist(
            made.id, name="Evening", song_ids_to_add=[second, first], song_indices_to_remove=[0]
        )
        assert await conn.save_play_queue([first, second], current=second, position=1500)
        queue = await conn.get_play_queue()
        assert [e.id for e in queue.entry] == [first, second] and queue.current == second
    finally:
        await conn.cleanup()
    assert await server_view(client, listener, made.id) == expected_view(first, second)


async def test_knuckles_journey(client, library, tmp_path: Path):
    listener: AppAccount = library["listener"]
    first, second = (t["id"] for t in library["tracks"])
    sub = knuckles.Subsonic(
        f"{client.server.host}:{client.server.port}",
        listener.username,
        listener.password,
        "knuckles",
        use_https=False,
    )

    def journey() -> tuple[str, str]:
        assert sub.system.ping()
        (artist,) = [a for a in sub.browsing.get_artists() if a.name == "The Larks"]
        (album,) = sub.browsing.get_artist(artist.id).albums
        assert [s.id for s in sub.browsing.get_album(album.id).songs] == [first, second]
        assert sub.browsing.get_song(first).title == "Dawn Chorus"
        assert [s.id for s in sub.searching.search("evening").songs] == [second]
        cover = sub.media_retrieval.get_cover_art(first, tmp_path)
        assert cover.read_bytes()[:2] == b"\xff\xd8"
        sub.media_annotation.star_song(first)
        sub.media_annotation.scrobble([second], [], submission=True)
        made = sub.playlists.create_playlist("Morning", song_ids=[first])
        sub.playlists.update_playlist(
            made.id, name="Evening", song_ids_to_add=[second, first], song_indexes_to_remove=[0]
        )
        sub.bookmarks.save_play_queue([first, second], current_song_id=second, position=1500)
        queue = sub.bookmarks.get_play_queue()
        assert [s.id for s in queue.songs] == [first, second] and queue.position == 1500
        return made.id, sub.media_retrieval.stream(first)

    playlist_id, url = await asyncio.to_thread(journey)
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Range": "bytes=0-3"}) as resp:
        assert resp.status == 206 and await resp.read() == b"fLaC"
    assert await server_view(client, listener, playlist_id) == expected_view(first, second)
