"""The core at the sizes people have: id lists of 1,000 and more, through the public interfaces.

The embedded store once turned an id list into one flat ``OR`` chain, which SQLite refuses past a
depth of 1,000 ("Expression tree is too large"): each test here was a 500 then.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import shutil

import pytest

from server import keys
from server.app import create_app
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import ArtistStore
from server.catalog.scan_cli import run_scan
from server.catalog.store import TrackStore
from tests.audio import make_audio
from tests.helpers import signed_in
from tests.lane_server import LaneTestServer
from tests.subsonic.conftest import app_account, py_sonic


async def _ready_tracks(client, count: int, *, artist_name: str = "Big Band") -> tuple[str, list[str]]:
    """``count`` ready tracks of one artist and album, written straight to the store (as a scan or a
    migration would: thousands of uploads through ffmpeg would take the suite an hour)."""
    db = client.app[keys.DB]
    artist = ArtistStore._new(artist_name, None, [])
    await db["artists"].insert_one(artist)
    album = AlbumStore._new("Everything", artist["_id"], 2001, [])
    await db["albums"].insert_one(album)
    docs = [
        TrackStore.new_document(
            {
                "title": f"Song {n:05d}",
                "artist_id": artist["_id"],
                "album_id": album["_id"],
                "owner_id": "owner",
                "status": "ready",
                "duration_ms": 180_000,
                "track_no": n + 1,
            }
        )
        for n in range(count)
    ]
    for start in range(0, count, 500):
        await db["tracks"].insert_many(docs[start : start + 500])
    return artist["_id"], [d["_id"] for d in docs]


async def test_a_1500_track_playlist_through_subsonic_get_playlist(client):
    _, ids = await _ready_tracks(client, 1500)
    account = await app_account(client, "listener")
    resp = await client.post("/api/v1/playlists", json={"name": "All of it"}, headers=account.headers)
    assert resp.status == 201, await resp.text()
    playlist_id = (await resp.json())["id"]
    for start in range(0, len(ids), 500):
        resp = await client.post(
            f"/api/v1/playlists/{playlist_id}/tracks",
            json={"track_ids": ids[start : start + 500]},
            headers=account.headers,
        )
        assert resp.status == 200, await resp.text()

    conn = py_sonic(client, account)
    got = (await asyncio.to_thread(conn.getPlaylist, playlist_id))["playlist"]
    assert got["songCount"] == 1500
    assert [song["id"] for song in got["entry"]] == ids

    resp = await client.get(f"/api/v1/playlists/{playlist_id}", headers=account.headers)
    assert resp.status == 200, await resp.text()
    assert [t["id"] for t in (await resp.json())["tracks"]] == ids


async def test_a_1000_entry_play_queue(client):
    _, ids = await _ready_tracks(client, 1000)
    account = await app_account(client, "listener")
    conn = py_sonic(client, account)
    await asyncio.to_thread(conn.savePlayQueue, ids, current=ids[500], position=1234)
    queue = (await asyncio.to_thread(conn.getPlayQueue))["playQueue"]
    assert [entry["id"] for entry in queue["entry"]] == ids
    assert queue["current"] == ids[500] and queue["position"] == 1234


async def test_merging_an_artist_of_1200_tracks(client):
    big, ids = await _ready_tracks(client, 1200, artist_name="The Big Band")
    small, _ = await _ready_tracks(client, 1, artist_name="Big Band, The")
    _, admin_h = await signed_in(client, "admin")
    resp = await client.post(f"/api/v1/artists/{big}/merge", json={"into_artist_id": small}, headers=admin_h)
    assert resp.status == 200, await resp.text()
    resp = await client.get(f"/api/v1/tracks?artist_id={small}&limit=1", headers=admin_h)
    assert (await resp.json())["total"] == 1201
    assert (await client.get(f"/api/v1/artists/{big}", headers=admin_h)).status == 404
    assert len(await client.app[keys.TRACKS].get_many(ids)) == 1200


@pytest.mark.parametrize("store_backend", ["embedded"], indirect=True)
async def test_a_rescan_after_a_folder_of_1200_scanned_files_vanished(aiohttp_client, settings, tmp_path):
    # Separate workers would transcode these (none runs here): the test is about the catalog.
    settings = dataclasses.replace(settings, inprocess_worker=False)
    client = await aiohttp_client(LaneTestServer(create_app(settings)))
    root = tmp_path / "music"
    folder = root / "Big Folder"
    folder.mkdir(parents=True)
    one = make_audio(tmp_path / "one.mp3", "mp3", 0.2, tags={"title": "Tiny", "artist": "Many"})
    for n in range(1200):
        shutil.copyfile(one, folder / f"{n:04d}.mp3")
    kept = make_audio(root / "kept.mp3", "mp3", 0.2, tags={"title": "Kept", "artist": "Few"})
    first = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert first.added == 1201

    shutil.rmtree(folder)
    summary = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert (summary.missing, summary.unchanged) == (1200, 1)
    docs = await client.app[keys.DB]["tracks"].find({}, {"missing": 1, "scan_path": 1}).to_list(None)
    assert sum(bool(d.get("missing")) for d in docs) == 1200
    assert kept.exists()
