"""Typed records: built from documents with their rules checked, and every write checked the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from media.records import Album, Artist, InvalidRecord, Track, check_track_changes, check_transition
from server import keys


def test_a_track_record_carries_its_fields_and_refuses_a_broken_document():
    track = Track.from_doc(
        {
            "_id": "t1",
            "title": "Song",
            "artist_id": "a1",
            "status": "ready",
            "original": {"path": "/music/a.flac", "mime": "audio/flac", "source": "scan"},
            "renditions": [{"name": "64k", "codec": "mp4a.40.2", "bitrate": 64000}],
            "title_sort": "song",
        }
    )
    assert (track.id, track.title, track.playable) == ("t1", "Song", True)
    assert track.original is not None and track.original.in_place and track.original.mime == "audio/flac"
    assert track.renditions[0].bitrate == 64000 and track.extra["title_sort"] == "song"
    for broken, field in (
        ({"title": None}, "title"),
        ({"title": "  "}, "title"),
        ({"status": "lost"}, "status"),
        ({"artist_id": 7}, "artist_id"),
        ({"duration_ms": -1}, "duration_ms"),
        ({"track_no": 0}, "track_no"),
    ):
        with pytest.raises(InvalidRecord) as caught:
            Track.from_doc({"_id": "t", "title": "x", "artist_id": "a", "status": "ready", **broken})
        assert field in caught.value.fields


def test_a_record_turns_back_into_the_document_it_was_read_from():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    track = Track.from_doc(
        {
            "_id": "t1",
            "title": "Song",
            "artist_id": "a1",
            "album_id": "b1",
            "status": "ready",
            "duration_ms": 1000,
            "original": {"path": "x/original.flac", "size": 10, "source": "upload"},
            "renditions": [{"name": "64k", "codec": "mp4a.40.2", "bitrate": 64000, "peak_bandwidth": 70000}],
            "loudness": {"integrated_lufs": -14.0, "track_gain_db": -4.0},
            "gapless": {
                "sample_rate": 44100,
                "priming_samples": 2048,
                "padding_samples": 10,
                "source_samples": 9,
            },
            "title_sort": "song",
            "created_at": when,
        }
    )
    again = Track.from_doc(track.to_doc())
    assert again == track and again.extra == track.extra and again.gapless == track.gapless
    assert track.to_doc()["title_sort"] == "song" and track.to_doc()["original"]["size"] == 10
    artist = Artist(id="a1", name="Name", bio=None, owner_ids=("u1",), created_at=when)
    album = Album(id="b1", title="Title", artist_id="a1", release_year=2001, owner_ids=("u1", "u2"))
    assert Artist.from_doc(artist.to_doc()) == artist and Album.from_doc(album.to_doc()) == album
    with pytest.raises(InvalidRecord):
        Artist.from_doc({**artist.to_doc(), "name": None})


def test_status_transitions_live_in_one_table():
    for old, new in (
        ("processing", "ready"),
        ("processing", "failed"),
        ("failed", "processing"),
        ("ready", "processing"),
    ):
        check_transition(old, new)
    for old, new in (("ready", "failed"), ("failed", "ready"), ("ready", "ready")):
        with pytest.raises(InvalidRecord):
            check_transition(old, new)
    check_track_changes({"genre": None, "album_id": None})  # optional fields may be cleared


async def test_the_catalog_store_never_saves_what_breaks_a_track(client):
    store = client.app[keys.TRACKS]
    track = await store.insert({"title": "Kept", "artist_id": "a1", "status": "ready"})
    for change in ({"title": None}, {"status": "gone"}, {"artist_id": None}):
        with pytest.raises(InvalidRecord):
            await store.update(track.id, change)
    with pytest.raises(InvalidRecord):
        await store.insert({"title": None, "artist_id": "a1", "status": "ready"})
    assert (await store.get(track.id)).title == "Kept"


async def test_artist_and_album_stores_never_save_a_missing_name(client):
    from server.catalog.album_store import AlbumStore
    from server.catalog.artist_store import ArtistStore

    catalog = client.app[keys.CATALOG]
    artists: ArtistStore = catalog.artists
    albums: AlbumStore = catalog.albums
    artist = await artists.create(name="Named", bio=None, owner_ids=["u1"])
    album = await albums.create(title="Titled", artist_id=artist.id, release_year=None, owner_ids=["u1"])
    for store, doc_id, change in (
        (artists, artist.id, {"name": None}),
        (artists, artist.id, {"owner_ids": "u1"}),
        (albums, album.id, {"title": " "}),
        (albums, album.id, {"release_year": 99}),
    ):
        with pytest.raises(InvalidRecord):
            await store.update(doc_id, change)
    with pytest.raises(InvalidRecord):
        await artists.create(name="", bio=None, owner_ids=[])
    assert (await artists.get(artist.id)).name == "Named"
    assert (await albums.get(album.id)).title == "Titled"


async def test_the_user_store_never_saves_a_broken_account(client):
    users = client.app[keys.USERS]
    user = await users.create(
        username="kept", email="kept@example.org", password_hash="x" * 20, roles=["listener"]
    )
    for change in ({"roles": []}, {"roles": ["root"]}, {"email": None}):
        with pytest.raises(InvalidRecord):
            await users.update(user.id, change)
    with pytest.raises(InvalidRecord):
        await users.create(username="", email="e@example.org", password_hash="x" * 20, roles=["listener"])
    stored = await users.get(user.id)
    assert (stored.username, stored.roles, stored.email) == ("kept", ("listener",), "kept@example.org")
    assert "x" * 20 not in repr(stored)  # the hash never shows in logs or reprs
