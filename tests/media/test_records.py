"""Typed records: built from documents with their rules checked, and every write checked the same way."""

from __future__ import annotations

import pytest

from media.records import InvalidRecord, Track, check_track_changes, check_transition
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
    doc = await store.insert({"title": "Kept", "artist_id": "a1", "status": "ready"})
    for change in ({"title": None}, {"status": "gone"}, {"artist_id": None}):
        with pytest.raises(InvalidRecord):
            await store.update(doc["_id"], change)
    with pytest.raises(InvalidRecord):
        await store.insert({"title": None, "artist_id": "a1", "status": "ready"})
    with pytest.raises(InvalidRecord):
        await store.update_where(doc["_id"], {"status": "ready"}, {"status": "failed"})
    assert (await store.get(doc["_id"]))["title"] == "Kept"


async def test_artist_and_album_stores_never_save_a_missing_name(client):
    from server.catalog.album_store import AlbumStore
    from server.catalog.artist_store import ArtistStore

    catalog = client.app[keys.CATALOG]
    artists: ArtistStore = catalog.artists
    albums: AlbumStore = catalog.albums
    artist = await artists.create(name="Named", bio=None, owner_ids=["u1"])
    album = await albums.create(title="Titled", artist_id=artist["_id"], release_year=None, owner_ids=["u1"])
    for store, doc_id, change in (
        (artists, artist["_id"], {"name": None}),
        (artists, artist["_id"], {"owner_ids": "u1"}),
        (albums, album["_id"], {"title": " "}),
        (albums, album["_id"], {"release_year": 99}),
    ):
        with pytest.raises(InvalidRecord):
            await store.update(doc_id, change)
    with pytest.raises(InvalidRecord):
        await artists.create(name="", bio=None, owner_ids=[])
    assert (await artists.get(artist["_id"]))["name"] == "Named"
    assert (await albums.get(album["_id"]))["title"] == "Titled"


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
