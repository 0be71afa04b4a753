"""Uploads that should work: every format, tags vs form fields, where the original goes, events."""

from __future__ import annotations

import hashlib

import pytest

from server import keys
from tests.audio import FORMATS, make_audio
from tests.catalog.test_artists_albums import collect_events
from tests.helpers import error_code, signed_in, upload_file, wait_for_track

TAGS = {
    "title": "Song of the Format",
    "artist": "The Generators",
    "album": "Test Tones",
    "genre": "Noise",
    "date": "2004-03-01",
    "track": "7/12",
}


def tagged_file(folder, fmt: str, seconds: float = 2.0):
    # Tagged the way ffmpeg tags each format (RIFF INFO for WAV), as real-world files are.
    return make_audio(folder / f"in.{fmt}", fmt, seconds, tags=TAGS)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_each_format_becomes_a_ready_track_with_its_tags(client, tmp_path, fmt):
    _, h = await signed_in(client, "artist")
    path = tagged_file(tmp_path, fmt)
    status, track = await upload_file(client, h, path)
    assert status == 202, track
    assert track["status"] == "processing"
    assert (track["title"], track["artist_name"], track["album_title"]) == (
        TAGS["title"],
        TAGS["artist"],
        TAGS["album"],
    )
    assert abs(track["duration_ms"] - 2000) < 150
    final = await wait_for_track(client, h, track["id"])
    assert final["status"] == "ready", final["error"]
    assert (final["title"], final["artist_name"]) == (TAGS["title"], TAGS["artist"])
    assert abs(final["duration_ms"] - 2000) < 150


async def test_form_fields_win_and_the_original_is_stored_under_the_track_id(client, tmp_path):
    events = collect_events(client.app)
    user, h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "x.mp3", "mp3", 1.0, tags=TAGS)
    long_name = "N" * 500
    status, track = await upload_file(
        client,
        h,
        path,
        filename="../../etc/p\u00e4ssw\u0301d \u202egpj.mp3",
        fields={"title": "  Field\t\tTitle  ", "artist": long_name, "release_year": "1999", "genre": ""},
    )
    assert status == 202, track
    assert track["title"] == "Field Title"
    assert track["artist_name"] == "N" * 200
    assert track["album_title"] == TAGS["album"] and track["genre"] == TAGS["genre"]
    assert (track["release_year"], track["track_no"]) == (1999, 7)
    assert track["owner_id"] == user["_id"] and track["source"] == "upload"

    layout = client.app[keys.CATALOG].layout
    stored = layout.find_original(track["id"])
    assert stored == layout.original_dir(track["id"]) / "original.mp3"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    doc = await client.app[keys.TRACKS].get(track["id"])
    assert doc.original is not None
    assert doc.original.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.original.size == path.stat().st_size
    # Nothing named after the user's file exists anywhere in the data dir, and the temp dir is empty.
    data_dir = client.app[keys.SETTINGS].data_dir
    assert not [p for p in data_dir.rglob("*") if "ssw" in p.name or p.name == "etc"]
    assert list(client.app[keys.SETTINGS].tmp_dir.iterdir()) == []

    assert (
        "track",
        {"id": track["id"], "status": "processing", "progress": 0, "error": None},
        user["_id"],
    ) in events
    assert ("library", {"kind": "track", "id": track["id"], "action": "created"}, None) in events
    assert ("library", {"kind": "artist", "id": track["artist_id"], "action": "created"}, None) in events


async def test_title_falls_back_to_a_cleaned_file_name(client, tmp_path):
    user, h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "plain.ogg", "ogg", 1.0)
    status, track = await upload_file(client, h, path, filename="C:\\music\\../My_Song\u200f (live).ogg")
    assert status == 202, track
    assert track["title"] == "My Song (live)"
    # No artist named anywhere: the uploader's own profile (tests/server/test_probe_defects.py).
    assert track["artist_name"] == user["username"] and track["album_id"] is None


async def test_second_upload_reuses_the_artist_and_album(client, tmp_path):
    _, h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "a.mp3", "mp3", 1.0, tags=TAGS)
    _, one = await upload_file(client, h, path)
    _, two = await upload_file(
        client, h, path, fields={"artist": "the generators", "allow_duplicate": "true"}
    )
    assert one["artist_id"] == two["artist_id"] and one["album_id"] == two["album_id"]
    assert one["id"] != two["id"]


async def test_who_may_upload_and_malformed_forms(client, tmp_path):
    _, listener_h = await signed_in(client)
    _, h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "a.mp3", "mp3", 1.0)
    status, body = await upload_file(client, listener_h, path)
    assert status == 403 and error_code(body) == "forbidden"
    status, body = await upload_file(client, h, path, fields={"colour": "red"})
    assert status == 400 and "colour" in body["error"]["details"]["fields"]
    status, body = await upload_file(client, h, path, fields={"release_year": "last year"})
    assert status == 400 and "release_year" in body["error"]["details"]["fields"]
    resp = await client.post("/api/v1/tracks", json={"title": "no file"}, headers=h)
    assert resp.status == 415 and error_code(await resp.json()) == "unsupported_media"
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("title", "only a title")
    form.add_field("dummy", b"", filename="x")  # forces multipart/form-data
    resp = await client.post("/api/v1/tracks", data=form, headers=h)
    assert resp.status == 400
    assert list(client.app[keys.SETTINGS].tmp_dir.iterdir()) == []
