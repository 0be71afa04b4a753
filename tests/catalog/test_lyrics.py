"""Lyrics through the API: read from an upload's tags and a scanned file's ``.lrc``, set by the owner,
served to listeners, and the same through ``/rest/getLyricsBySongId``."""

from __future__ import annotations

import io
import uuid

from mutagen.flac import FLAC

from server import keys
from server.catalog.scan_cli import run_scan
from tests.audio import make_audio
from tests.helpers import error_code, signed_in, upload_file, wait_for_track

LRC = "[la:eng]\n[00:00.50]Hello\n[00:01.25]World\n"


async def test_upload_owner_edits_and_listeners_read(client, tmp_path):
    _, artist = await signed_in(client, "artist")
    _, other_artist = await signed_in(client, "artist")
    _, listener = await signed_in(client, "listener")

    path = make_audio(tmp_path / "song.flac", "flac", 2.0, tags={"comment": uuid.uuid4().hex})
    tagged = FLAC(path)
    tagged["LYRICS"] = "From the file\nSecond line"
    tagged.save()
    status, track = await upload_file(client, artist, path)
    assert status == 202, track
    url = f"/api/v1/tracks/{track['id']}/lyrics"

    resp = await client.get(url, headers=artist)
    assert resp.status == 200
    assert await resp.json() == {
        "synced": False,
        "lang": None,
        "source": "embedded",
        "lines": [{"start_ms": None, "text": "From the file"}, {"start_ms": None, "text": "Second line"}],
    }

    assert (await wait_for_track(client, artist, track["id"]))["status"] == "ready"
    resp = await client.put(url, json={"text": LRC}, headers=other_artist)
    assert resp.status == 403  # they see the track, but it is not theirs
    resp = await client.put(url, json={"text": "[ar:nothing to show]"}, headers=artist)
    assert resp.status == 400 and error_code(await resp.json()) == "invalid_input"
    resp = await client.put(url, json={"text": LRC}, headers=artist)
    assert resp.status == 200
    synced = await resp.json()
    assert synced["synced"] is True and synced["lang"] == "eng" and synced["source"] == "upload"
    assert synced["lines"] == [{"start_ms": 500, "text": "Hello"}, {"start_ms": 1250, "text": "World"}]

    # Listeners see them (visibility is the track's).
    assert await (await client.get(url, headers=listener)).json() == synced

    resp = await client.delete(url, headers=artist)
    assert resp.status == 204
    resp = await client.get(url, headers=listener)
    assert resp.status == 404 and error_code(await resp.json()) == "not_found"
    assert (await client.delete(url, headers=artist)).status == 404

    # A deleted track takes its lyrics along.
    await client.put(url, json={"text": LRC}, headers=artist)
    assert (await client.delete(f"/api/v1/tracks/{track['id']}", headers=artist)).status == 204
    assert await client.app[keys.LYRICS].get(track["id"]) is None


async def test_a_scan_reads_sidecars_and_keeps_uploaded_lyrics(client, tmp_path):
    settings = client.app[keys.SETTINGS]
    root = tmp_path / "music"
    root.mkdir()
    make_audio(root / "one.flac", "flac", 1.0, tags={"title": "One", "artist": "Band"})
    (root / "one.lrc").write_text(LRC, encoding="utf-8")
    await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())

    _, admin = await signed_in(client, "admin")
    listing = await (await client.get("/api/v1/tracks", headers=admin)).json()
    (track,) = listing["items"]
    url = f"/api/v1/tracks/{track['id']}/lyrics"
    found = await (await client.get(url, headers=admin)).json()
    assert found["source"] == "sidecar" and [line["text"] for line in found["lines"]] == ["Hello", "World"]

    # An edited sidecar is read again on the next scan (the audio file changed too: a rescan only
    # looks at changed files)...
    (root / "one.lrc").write_text("[00:02.00]Changed\n", encoding="utf-8")
    tagged = FLAC(root / "one.flac")
    tagged["COMMENT"] = "edited"
    tagged.save()
    summary = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert summary.updated == 1
    found = await (await client.get(url, headers=admin)).json()
    assert found["lines"] == [{"start_ms": 2000, "text": "Changed"}]

    # ...but lyrics an admin or owner set win over the file's from then on.
    assert (await client.put(url, json={"text": "Mine"}, headers=admin)).status == 200
    tagged["COMMENT"] = "edited again"
    tagged.save()
    await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    found = await (await client.get(url, headers=admin)).json()
    assert found["source"] == "upload" and found["lines"] == [{"start_ms": None, "text": "Mine"}]
