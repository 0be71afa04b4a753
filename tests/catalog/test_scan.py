"""``harmonystream scan``: imports in place, idempotent, updates changed files, marks vanished ones."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys

import pytest

from server import keys
from server.catalog.scan_cli import run_scan
from tests.audio import FORMATS, make_audio, make_garbage
from tests.helpers import signed_in, wait_for_track
from tests.services import SET_TYPES
from tests.subsonic.conftest import app_account, token_auth


def library(root):
    (root / "Artist A" / ".hidden").mkdir(parents=True)
    (root / "Artist B").mkdir()
    for i, fmt in enumerate(FORMATS):
        folder = root / ("Artist A" if i % 2 else "Artist B")
        tags = {"title": f"Song {fmt}", "artist": "Scanned Band", "album": "Disk", "track": str(i + 1)}
        name = f"{i:02d} song.{fmt.upper() if fmt == 'flac' else fmt}"
        make_audio(folder / name, fmt, 1.0, tags=tags)
    make_audio(root / "Artist A" / ".hidden" / "secret.mp3", "mp3", 1.0)
    make_garbage(root / "Artist A" / "diary.mp3", "text")
    make_garbage(root / "Artist B" / "empty.ogg", "empty")
    (root / "notes.txt").write_text("not audio")
    return root


async def test_scan_imports_in_place_and_a_second_run_adds_nothing(client, tmp_path):
    settings = client.app[keys.SETTINGS]
    root = library(tmp_path / "music")
    out = io.StringIO()
    # The server (client fixture) runs on the same store meanwhile, as `serve` would.
    first = await run_scan(settings, root, out=out, err=io.StringIO())
    assert (first.found, first.added, len(first.skipped)) == (8, 6, 2)
    assert {os.path.basename(p) for p, _ in first.skipped} == {"diary.mp3", "empty.ogg"}
    assert "6 added" in out.getvalue() and "2 skipped" in out.getvalue()

    _, admin_h = await signed_in(client, "admin")
    resp = await client.get("/api/v1/tracks?sort=track_no&limit=50", headers=admin_h)
    listing = await resp.json()
    assert listing["total"] == 6
    assert [t["title"] for t in listing["items"]] == [f"Song {fmt}" for fmt in FORMATS]
    assert {t["artist_name"] for t in listing["items"]} == {"Scanned Band"}
    assert {t["album_title"] for t in listing["items"]} == {"Disk"}
    assert {t["source"] for t in listing["items"]} == {"scan"}
    # Referenced in place: nothing copied into the media store.
    assert not (settings.media_dir / "originals").exists() or not list(
        (settings.media_dir / "originals").iterdir()
    )
    doc = await client.app[keys.TRACKS].get(listing["items"][0]["id"])
    assert doc.original is not None and doc.original.path.startswith(str(root.resolve()))

    second = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert (second.added, second.updated, second.unchanged, second.missing) == (0, 0, 6, 0)
    assert (await (await client.get("/api/v1/tracks", headers=admin_h)).json())["total"] == 6

    # The queued transcodes run in the server: a scanned file becomes ready like an upload.
    final = await wait_for_track(client, admin_h, listing["items"][0]["id"])
    assert final["status"] == "ready", final["error"]


@pytest.mark.standin_deviation(reason=SET_TYPES)
async def test_changed_vanished_and_returning_files(client, tmp_path):
    settings = client.app[keys.SETTINGS]
    root = tmp_path / "music"
    root.mkdir()
    keep = make_audio(root / "keep.mp3", "mp3", 1.0, tags={"title": "Keep", "artist": "X"})
    change = make_audio(root / "change.ogg", "ogg", 1.0, tags={"title": "Before", "artist": "X"})
    leave = make_audio(root / "leave.flac", "flac", 1.0, tags={"title": "Leave", "artist": "X"})
    await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    tracks = client.app[keys.TRACKS]
    by_title = {d["title"]: d for d in await client.app[keys.DB]["tracks"].find({}).to_list(None)}

    make_audio(change, "ogg", 2.0, tags={"title": "After", "artist": "X"})
    os.utime(change, ns=(1, 1))  # a different mtime whatever the clock's resolution
    parked = tmp_path / "parked.flac"
    shutil.move(leave, parked)
    summary = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert (summary.added, summary.updated, summary.unchanged, summary.missing) == (0, 1, 1, 1)
    changed = await tracks.get(by_title["Before"]["_id"])
    assert changed.title == "After" and changed.status == "processing"
    assert changed.duration_ms is not None and abs(changed.duration_ms - 2000) < 150
    assert (await tracks.get(by_title["Leave"]["_id"])).missing is True
    assert not (await tracks.get(by_title["Keep"]["_id"])).missing

    shutil.move(parked, leave)
    summary = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert (summary.added, summary.restored, summary.missing) == (0, 1, 0)
    assert (await tracks.get(by_title["Leave"]["_id"])).missing is False
    assert keep.exists()


async def test_odd_file_names_are_imported_or_skipped_with_a_reason(client, tmp_path):
    settings = client.app[keys.SETTINGS]
    root = tmp_path / "music"
    root.mkdir()
    make_audio(root / "caf\u00e9 \u202e\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \U0001f3b5.mp3", "mp3", 1.0)
    bad_name = os.fsencode(root) + b"/broken-\xff\xfe.mp3"
    shutil.copy(root / os.listdir(root)[0], bad_name)
    summary = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert summary.added == 1
    assert [reason for _, reason in summary.skipped] == ["the file name is not valid UTF-8"]
    (doc,) = await client.app[keys.DB]["tracks"].find({}).to_list(None)
    assert doc["title"] == "caf\u00e9 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \U0001f3b5"


def _embedded_env(tmp_path):
    """The environment of a command on the embedded store and Redis in ``tmp_path/data``."""
    env = {**os.environ, "HS_DATA_DIR": str(tmp_path / "data"), "HS_LOG_LEVEL": "warning"}
    env.pop("HS_REDIS_URL", None)
    env.pop("HS_MONGO_URL", None)
    return env


def test_the_command_prints_a_summary(tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    make_audio(root / "one.mp3", "mp3", 1.0, tags={"title": "One"})
    env = _embedded_env(tmp_path)
    argv = [sys.executable, "-m", "server", "scan", str(root)]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "1 added" in first.stdout
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert "0 added" in again.stdout and "1 unchanged" in again.stdout
    missing = subprocess.run([*argv[:-1], str(tmp_path / "nope")], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "not a folder" in missing.stderr


def test_the_progress_bar_shows_the_rate_and_what_is_left():
    from server.catalog.scan_cli import ProgressBar

    now = [100.0]
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10, live=True, clock=lambda: now[0])
    bar(0, 1000)
    now[0] += 2.0
    bar(500, 1000)  # 250 files/s: 500 left take 2 s
    now[0] += 60.0
    bar(600, 1000)  # 100 files in 60 s more: 600 in 62 s, about 9.7 files/s, 400 left
    bar.close()
    frames = stream.getvalue().split("\r")
    assert "[#####-----]  50%  500/1000  250 files/s  ETA 0:02" in frames[2]
    assert "600/1000  10 files/s  ETA 0:41" in frames[3]
    assert stream.getvalue().endswith("\n")
    quiet = io.StringIO()
    ProgressBar(quiet, live=False)(5, 10)
    assert quiet.getvalue() == ""


def test_watch_mode_picks_up_new_files_until_stopped(tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    make_audio(root / "one.mp3", "mp3", 1.0, tags={"title": "One"})
    env = _embedded_env(tmp_path)
    argv = [sys.executable, "-u", "-m", "server", "scan", str(root), "--watch", "0.3"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = iter(proc.stdout.readline, "")  # type: ignore[union-attr]
        assert "1 added" in next(lines)
        assert any(line.startswith("watching") for line in lines)
        make_audio(tmp_path / "two.mp3", "mp3", 1.0, tags={"title": "Two"})
        os.replace(tmp_path / "two.mp3", root / "two.mp3")  # appears whole, as a finished copy does
        picked = next(line for line in lines if "added" in line)
        assert "2 audio files" in picked and "1 added" in picked and "1 unchanged" in picked, picked
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    bad = subprocess.run([*argv[:-1], "0"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "positive" in bad.stderr


def test_the_walk_yields_folders_in_the_order_the_store_sorts_them(tmp_path):
    """The rescan merges the walk with the folder records in ``_id`` order, and a changed folder's
    files with its tracks in ``scan_path`` order: both must agree with the store on every name."""
    from server.catalog.scan import count_files, walk_folders

    names = [
        "b.mp3",
        "b c/x.mp3",
        "b/x.mp3",
        "B.mp3",
        "é.mp3",
        "e.mp3",
        "a-b/y.mp3",
        "a/b/c.mp3",
        "a.b/z.mp3",
    ]
    names += ["z/.hidden.mp3", "zz/notes.txt", "日本/曲.flac", "b/x/deeper/q.ogg", ".secret/s.mp3"]
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    folders = list(walk_folders(tmp_path))
    paths = [folder.path for folder in folders]
    assert paths == sorted(paths) and all(p.endswith(os.sep) for p in paths)
    assert paths[0] == str(tmp_path) + os.sep
    assert len(paths) == 12  # the root and every folder below it but the hidden one
    for folder in folders:
        files = [f.path for f in folder.files()]
        assert files == sorted(files)
    assert sum(len(folder.entries) for folder in folders) == count_files(tmp_path) == 11


async def test_new_files_between_known_ones_are_added_and_nothing_is_marked_missing(client, tmp_path):
    """A rescan inserts new files while it still streams what earlier scans saw; what it inserts
    must not come back in that stream as a file the walk did not meet."""
    settings = client.app[keys.SETTINGS]
    root = tmp_path / "music"
    root.mkdir()
    seed = make_audio(tmp_path / "seed.mp3", "mp3", 0.5, tags={"title": "Seed", "artist": "X"})
    # More known files than one batch of the stream (1,000), so inserts happen before its last batch.
    for i in range(0, 2600, 2):
        shutil.copyfile(seed, root / f"{i:04d}.mp3")
    first = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert first.added == 1300
    for i in range(1, 2600, 2):
        shutil.copyfile(seed, root / f"{i:04d}.mp3")
    second = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert (second.added, second.unchanged, second.missing, second.updated) == (1300, 1300, 0, 0)
    assert await client.app[keys.DB]["tracks"].count_documents({"missing": True}) == 0


def _copies(seed, root, folders, count=3):
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shutil.copy2(seed, root / folder / f"{i}.mp3")


async def test_a_rescan_reads_back_only_the_folders_that_changed(client, tmp_path):
    """Each folder's fingerprint (names, sizes, mtimes, subfolders) vouches for its tracks: a rescan
    reads back only folders whose fingerprint changed, and still finds every change below them."""
    settings = client.app[keys.SETTINGS]
    tracks = client.app[keys.DB]["tracks"]
    root = tmp_path / "music"
    seed = make_audio(tmp_path / "seed.mp3", "mp3", 0.5, tags={"title": "Seed", "artist": "X"})
    _copies(seed, root, ["A/One", "A/Two", "B"])

    def scan():
        return run_scan(settings, root, out=io.StringIO(), err=io.StringIO())

    assert (await scan()).added == 9
    size = seed.stat().st_size
    # Behind the scanner's back, every track now says its file had another size. A rescan that read
    # tracks back would take all nine for changed; nothing on disk changed, so it reads none.
    await tracks.update_many({}, {"$set": {"original.size": size + 1}})
    again = await scan()
    assert (again.found, again.unchanged, again.updated) == (9, 9, 0)

    # One file touched: its folder is read back (and, with the tampered sizes, all three of it look
    # changed); the other two folders are not.
    os.utime(root / "A" / "Two" / "1.mp3", ns=(1, 1))
    touched = await scan()
    assert (touched.updated, touched.unchanged) == (3, 6)
    await tracks.update_many({}, {"$set": {"original.size": size}})

    # A folder gone, and a whole tree gone: the nearest folder still there has another fingerprint
    # (its subfolders changed), and reading it back finds the tracks below the missing ones.
    shutil.move(root / "A" / "One", tmp_path / "One")
    assert (await scan()).missing == 3
    shutil.move(root / "A", tmp_path / "A")
    gone = await scan()
    assert (gone.missing, gone.unchanged) == (3, 3)
    assert await tracks.count_documents({"missing": True}) == 6
    shutil.move(tmp_path / "A", root / "A")
    shutil.move(tmp_path / "One", root / "A" / "One")
    back = await scan()
    assert (back.restored, back.unchanged, back.missing) == (6, 9, 0)
    assert await tracks.count_documents({"missing": True}) == 0

    # Deleting a scanned track drops its folder's fingerprint: the file is still there, and the next
    # scan takes it in again, as it did before fingerprints.
    _, admin_h = await signed_in(client, "admin")
    doc = await tracks.find_one({"scan_path": str(root.resolve() / "B" / "0.mp3")})
    resp = await client.delete(f"/api/v1/tracks/{doc['_id']}", headers=admin_h)
    assert resp.status == 204
    readded = await scan()
    assert (readded.added, readded.unchanged) == (1, 8)


async def test_a_file_that_cannot_be_imported_keeps_its_folder_looked_at(client, tmp_path):
    """A folder with a file that failed gets no fingerprint: the file is retried at every scan."""
    settings = client.app[keys.SETTINGS]
    root = tmp_path / "music"
    seed = make_audio(tmp_path / "seed.mp3", "mp3", 0.5, tags={"title": "Seed", "artist": "X"})
    _copies(seed, root, ["Good", "Bad"], count=2)
    make_garbage(root / "Bad" / "broken.mp3", "text")
    for _ in range(2):
        summary = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
        assert [os.path.basename(p) for p, _ in summary.skipped] == ["broken.mp3"]
    assert summary.unchanged == 4
    # Fixed in place, it is imported without anything else changing.
    shutil.copy2(seed, root / "Bad" / "broken.mp3")
    fixed = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert (fixed.added, fixed.skipped, fixed.unchanged) == (1, [], 4)


async def test_a_retagged_folder_is_read_again_a_batch_at_a_time(client, tmp_path):
    """Changed files go through the tag workers like new ones; each track takes its file's new tags."""
    from mutagen.easyid3 import EasyID3

    settings = client.app[keys.SETTINGS]
    db = client.app[keys.DB]
    root = tmp_path / "music"
    seed = make_audio(tmp_path / "seed.mp3", "mp3", 0.5, tags={"title": "Seed", "artist": "X"})
    _copies(seed, root, ["Album"], count=60)  # more than the scanner starts its workers for
    assert (await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())).added == 60
    for i in range(60):
        path = root / "Album" / f"{i}.mp3"
        tags = EasyID3(path)
        tags.update({"title": f"Retagged {i}", "artist": "Y", "album": "New Album"})
        tags.save(path)
        os.utime(path, ns=(1, 10**9 + i))  # a different mtime whatever the clock's resolution
    summary = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert (summary.updated, summary.unchanged, summary.added, summary.skipped) == (60, 0, 0, [])
    docs = await db["tracks"].find({}).to_list(None)
    assert sorted(d["title"] for d in docs) == sorted(f"Retagged {i}" for i in range(60))
    (artist_id,) = {d["artist_id"] for d in docs}
    assert (await db["artists"].find_one({"_id": artist_id}))["name"] == "Y"
    (album_id,) = {d["album_id"] for d in docs}
    assert (await db["albums"].find_one({"_id": album_id}))["title"] == "New Album"


async def test_a_vanished_file_is_hidden_from_listeners_until_it_returns(client, tmp_path):
    """A scanned file that vanished is not offered to listeners anywhere - lists, counts, search, the
    track itself, its media, Subsonic - while admins see it marked missing; it comes back with its file."""
    settings = client.app[keys.SETTINGS]
    root = tmp_path / "music"
    root.mkdir()
    tags = {"artist": "Fading", "album": "Gone Tomorrow"}
    make_audio(root / "stay.mp3", "mp3", 1.0, tags={**tags, "title": "Staying Song", "track": "1"})
    leave = make_audio(root / "leave.mp3", "mp3", 1.0, tags={**tags, "title": "Leaving Song", "track": "2"})
    await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    _, admin_h = await signed_in(client, "admin")
    listing = await (await client.get("/api/v1/tracks?sort=track_no", headers=admin_h)).json()
    ids = {t["title"]: t["id"] for t in listing["items"]}
    for track_id in ids.values():
        await wait_for_track(client, admin_h, track_id)
    account = await app_account(client, "listener")
    listener_h = account.headers
    search = client.app[keys.SEARCH]

    async def listener_sees() -> dict[str, object]:
        await search.sync()
        tracks = await (await client.get("/api/v1/tracks", headers=listener_h)).json()
        found = await (await client.get("/api/v1/search?q=song", headers=listener_h)).json()
        one = await client.get(f"/api/v1/tracks/{ids['Leaving Song']}", headers=listener_h)
        media = await client.get(f"/api/v1/tracks/{ids['Leaving Song']}/media", headers=listener_h)
        params = {**token_auth(account), "v": "1.16.1", "c": "t", "f": "json"}
        album_id = tracks["items"][0]["album_id"]
        album = await (await client.get("/rest/getAlbum", params={**params, "id": album_id})).json()
        found3 = await (await client.get("/rest/search3", params={**params, "query": "song"})).json()
        return {
            "listed": sorted(t["title"] for t in tracks["items"]),
            "total": tracks["total"],
            "searched": sorted(t["title"] for t in found["tracks"]["items"]),
            "track": one.status,
            "media": media.status,
            "album_songs": album["subsonic-response"]["album"]["songCount"],
            "search3": sorted(
                s["title"] for s in found3["subsonic-response"]["searchResult3"].get("song", [])
            ),
        }

    everything = {
        "listed": ["Leaving Song", "Staying Song"],
        "total": 2,
        "searched": ["Leaving Song", "Staying Song"],
        "track": 200,
        "media": 200,
        "album_songs": 2,
        "search3": ["Leaving Song", "Staying Song"],
    }
    assert await listener_sees() == everything

    parked = tmp_path / "parked.mp3"
    shutil.move(leave, parked)
    assert (await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())).missing == 1
    assert await listener_sees() == {
        "listed": ["Staying Song"],
        "total": 1,
        "searched": ["Staying Song"],
        "track": 404,
        "media": 404,
        "album_songs": 1,
        "search3": ["Staying Song"],
    }
    shown = await (await client.get(f"/api/v1/tracks/{ids['Leaving Song']}", headers=admin_h)).json()
    assert shown["missing"] is True and shown["status"] == "ready"  # the admin console shows it

    shutil.move(parked, leave)
    assert (await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())).restored == 1
    assert await listener_sees() == everything
