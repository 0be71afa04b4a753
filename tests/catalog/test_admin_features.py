"""Merging artists, folder scans started through the API, and cover uploads."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess

import aiohttp

from server import keys
from server.app import create_app
from tests.audio import make_audio, make_jpeg
from tests.helpers import error_code, make_track, signed_in, wait_for_track


async def _artist_id(client, headers, name):
    resp = await client.get("/api/v1/artists", params={"q": name}, headers=headers)
    items = (await resp.json())["items"]
    (match,) = [a for a in items if a["name"] == name]
    return match["id"]


async def test_merge_moves_tracks_and_albums_and_deletes_the_source(client):
    _, artist = await signed_in(client, "artist")
    _, admin = await signed_in(client, "admin")
    _, listener = await signed_in(client, "listener")
    dup_same = await make_track(
        client, artist, seconds=1, fields={"artist": "Dup Band", "album": "Same Album"}
    )
    dup_only = await make_track(client, artist, seconds=1, fields={"artist": "Dup Band", "album": "Only Dup"})
    dup_single = await make_track(client, artist, seconds=1, fields={"artist": "Dup Band"})
    kept = await make_track(client, artist, seconds=1, fields={"artist": "The Band", "album": "same album"})
    source, target = dup_same["artist_id"], kept["artist_id"]
    assert source != target and dup_same["album_id"] != kept["album_id"]
    path = f"/api/v1/artists/{source}/merge"

    resp = await client.post(path, json={"into_artist_id": target}, headers=listener)
    assert resp.status == 403 and error_code(await resp.json()) == "forbidden"
    resp = await client.post(path, json={"into_artist_id": source}, headers=admin)
    assert resp.status == 400

    resp = await client.post(path, json={"into_artist_id": target}, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["id"] == target

    assert (await client.get(f"/api/v1/artists/{source}", headers=admin)).status == 404
    # The album with the target's title (case aside) was folded into the target's; the other moved.
    assert (await client.get(f"/api/v1/albums/{dup_same['album_id']}", headers=admin)).status == 404
    moved = await (await client.get(f"/api/v1/albums/{dup_only['album_id']}", headers=admin)).json()
    assert moved["artist_id"] == target and moved["artist_name"] == "The Band"
    resp = await client.get("/api/v1/tracks", params={"artist_id": target}, headers=admin)
    tracks = {t["id"]: t for t in (await resp.json())["items"]}
    assert set(tracks) == {dup_same["id"], dup_only["id"], dup_single["id"], kept["id"]}
    assert tracks[dup_same["id"]]["album_id"] == kept["album_id"]
    assert tracks[dup_only["id"]]["album_id"] == dup_only["album_id"]
    assert tracks[dup_single["id"]]["album_id"] is None
    assert {t["artist_name"] for t in tracks.values()} == {"The Band"}
    resp = await client.get("/api/v1/tracks", params={"artist_id": source}, headers=admin)
    assert (await resp.json())["total"] == 0

    # Running it again (as after an interruption) finds nothing left to merge.
    resp = await client.post(path, json={"into_artist_id": target}, headers=admin)
    assert resp.status == 404


async def _wait_for_scan(client, headers, scan_id, within=60.0):
    deadline = asyncio.get_running_loop().time() + within
    while True:
        resp = await client.get(f"/api/v1/scans/{scan_id}", headers=headers)
        assert resp.status == 200, await resp.text()
        state = await resp.json()
        if state["state"] in ("done", "failed"):
            return state
        assert asyncio.get_running_loop().time() < deadline, state
        await asyncio.sleep(0.1)


async def test_scan_started_through_the_api_imports_the_folder(client, tmp_path):
    _, admin = await signed_in(client, "admin")
    _, artist = await signed_in(client, "artist")
    folder = tmp_path / "music"
    folder.mkdir()
    make_audio(folder / "one.mp3", "mp3", 1.0, tags={"title": "One", "artist": "Scan Act"})
    make_audio(folder / "two.ogg", "ogg", 1.0, tags={"title": "Two", "artist": "Scan Act"})

    resp = await client.post("/api/v1/scans", json={"path": str(folder)}, headers=artist)
    assert resp.status == 403
    resp = await client.post("/api/v1/scans", json={"path": str(folder)}, headers=admin)
    assert resp.status == 202, await resp.text()
    started = await resp.json()
    assert started["state"] in ("queued", "running") and started["path"] == str(folder.resolve())

    state = await _wait_for_scan(client, admin, started["id"])
    assert state["state"] == "done", state
    assert (state["done"], state["total"], state["progress"]) == (2, 2, 100)
    assert state["files_per_second"] > 0 and state["eta_seconds"] == 0
    assert state["summary"]["added"] == 2 and state["summary"]["queued"] == 2
    # The state lives in Redis under the app's prefix, where any replica can read it.
    prefix = client.app[keys.SETTINGS].redis_prefix
    assert await client.app[keys.REDIS].exists(f"{prefix}scan:{started['id']}")

    artist_id = await _artist_id(client, admin, "Scan Act")
    resp = await client.get("/api/v1/tracks", params={"artist_id": artist_id}, headers=admin)
    tracks = (await resp.json())["items"]
    assert sorted(t["title"] for t in tracks) == ["One", "Two"]
    for track in tracks:  # transcode jobs were queued for them
        assert (await wait_for_track(client, admin, track["id"]))["status"] == "ready"

    assert (await client.get("/api/v1/scans/nope", headers=admin)).status == 404


async def test_scan_of_a_bad_path_is_refused(client, tmp_path):
    _, admin = await signed_in(client, "admin")
    afile = tmp_path / "file.mp3"
    afile.write_bytes(b"x")
    for path in (str(tmp_path / "missing"), str(afile), "relative/folder", ""):
        resp = await client.post("/api/v1/scans", json={"path": path}, headers=admin)
        assert resp.status == 400, path
        assert error_code(await resp.json()) in ("invalid_input", "bad_scan_path")


def _png() -> bytes:
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=40x30",
        "-frames:v",
        "1",
        "-c:v",
        "png",
        "-f",
        "image2pipe",
        "-",
    ]
    return subprocess.run(argv, check=True, capture_output=True, timeout=30).stdout


async def _put_cover(client, headers, track_id, data, content_type):
    form = aiohttp.FormData()
    form.add_field("file", data, filename="cover", content_type=content_type)
    return await client.put(f"/api/v1/tracks/{track_id}/cover", data=form, headers=headers)


async def test_cover_upload_then_download_gives_the_same_image(client):
    _, owner = await signed_in(client, "artist")
    _, other = await signed_in(client, "artist")
    track = await make_track(client, owner, seconds=1)
    assert track["cover_url"] is None
    jpeg = make_jpeg(80, 60, "green")

    resp = await _put_cover(client, owner, track["id"], jpeg, "image/jpeg")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["cover_url"] == f"/api/v1/tracks/{track['id']}/cover"
    resp = await client.get(f"/api/v1/tracks/{track['id']}/cover", headers=owner)
    assert resp.status == 200
    assert resp.content_type == "image/jpeg" and await resp.read() == jpeg

    # A PNG sent as the raw body is stored as a JPEG (covers are served as JPEG).
    resp = await client.post(
        f"/api/v1/tracks/{track['id']}/cover",
        data=_png(),
        headers={**owner, "Content-Type": "image/png"},
    )
    assert resp.status == 200, await resp.text()
    resp = await client.get(f"/api/v1/tracks/{track['id']}/cover", headers=owner)
    body = await resp.read()
    assert resp.content_type == "image/jpeg" and body.startswith(b"\xff\xd8\xff") and body != jpeg

    resp = await _put_cover(client, owner, track["id"], b"just some text, not a picture", "image/jpeg")
    assert resp.status == 415 and error_code(await resp.json()) == "unsupported_media"
    resp = await _put_cover(client, other, track["id"], jpeg, "image/jpeg")
    assert resp.status in (403, 404)
    resp = await _put_cover(
        client, owner, track["id"], b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "image/jpeg"
    )
    assert resp.status == 413
    # None of the refused uploads replaced the stored cover.
    resp = await client.get(f"/api/v1/tracks/{track['id']}/cover", headers=owner)
    assert await resp.read() == body


def test_a_scans_pace_and_time_left():
    from server.catalog.scan_jobs import Pace

    now = [10.0]
    pace = Pace(clock=lambda: now[0])
    assert pace.figures(0, 100) == (None, None)
    pace.saw(20)  # 20 unchanged files handled at once
    assert pace.figures(20, 100) == (None, None)
    now[0] += 4.0
    pace.saw(40)
    assert pace.figures(40, 100) == (5.0, 12)  # 20 files in 4 s; 60 left


async def test_the_scan_api_tells_nothing_of_paths_outside_the_library(aiohttp_client, settings, tmp_path):
    """Outside HS_LIBRARY_FOLDERS, a missing path, a file and a real folder get the one same answer."""
    library = tmp_path / "library"
    library.mkdir()
    client = await aiohttp_client(create_app(dataclasses.replace(settings, library_folders=str(library))))
    _, admin = await signed_in(client, "admin")
    afile = tmp_path / "file.mp3"
    afile.write_bytes(b"x")
    answers = []
    for path in (str(tmp_path / "missing"), str(afile), str(tmp_path), "/etc"):
        resp = await client.post("/api/v1/scans", json={"path": path}, headers=admin)
        body = await resp.json()
        assert resp.status == 400 and error_code(body) == "scan_path_not_allowed", (path, body)
        answers.append((body["error"]["message"], body["error"]["details"]))
    assert len(set(map(repr, answers))) == 1
    # Inside the library, a missing folder is still named as such.
    resp = await client.post("/api/v1/scans", json={"path": str(library / "missing")}, headers=admin)
    assert error_code(await resp.json()) == "bad_scan_path"
