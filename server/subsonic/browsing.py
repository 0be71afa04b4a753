"""Browsing by tags (ID3): ``getArtists``, ``getArtist``, ``getAlbum``, ``getSong``.

Ids are our ids. Every answer goes through the catalog service, with the caller's visibility: a
listener sees ready tracks, an uploader also their own processing ones, as on ``/api/v1``.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from typing import Any

from aiohttp import web

from media.records import Mark, Track
from server import keys
from server.catalog.schemas import AlbumOut, TrackOut
from server.catalog.service import CatalogService, cover_track_id
from server.search.service import NamedTrack
from server.subsonic.auth import Caller
from server.subsonic.protocol import NotFound, Params
from server.timestamps import iso

IGNORED_ARTICLES = "The El La Los Las Le Les"
SUFFIXES = {
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/aiff": "aiff",
    "audio/x-matroska": "mka",
}


def index_letter(name: str) -> str:
    words = name.split(" ", 1)
    if len(words) == 2 and words[0] in IGNORED_ARTICLES.split():
        name = words[1]
    first = unicodedata.normalize("NFKD", name[:1]).encode("ascii", "ignore").decode().upper()
    return first if first.isalpha() else "#"


def song_element(named: NamedTrack, mark: Mark | None = None) -> dict[str, Any]:
    """A ``Child`` of the protocol: a song, filled the way clients read it (``mark``: the caller's star
    and rating of it). Built straight from the record: apps sync libraries in pages of hundreds."""
    track = named.track
    original = track.original
    mime = (original.mime if original else None) or "audio/mpeg"
    size = original.size if original and original.size else None
    seconds = round((track.duration_ms or 0) / 1000)
    bitrate = round(size * 8 / 1000 / seconds) if size and seconds else None
    return {
        "id": track.id,
        "parent": track.album_id or track.artist_id,
        "isDir": False,
        "title": track.title,
        "album": named.album_title,
        "artist": named.artist_name,
        "track": track.track_no,
        "year": track.release_year,
        "genre": track.genre,
        "coverArt": track.id if track.cover else None,
        "size": size,
        "contentType": mime,
        "suffix": SUFFIXES.get(mime, "mp3"),
        "duration": seconds,
        "bitRate": bitrate,
        "playCount": track.play_count,
        "created": iso(track.created_at) if track.created_at else None,
        "albumId": track.album_id,
        "artistId": track.artist_id,
        "type": "music",
        "mediaType": "song",
        "isVideo": False,
        "genres": [{"name": track.genre}] if track.genre else [],
        "starred": iso(mark.starred_at) if mark and mark.starred_at else None,
        "userRating": mark.rating if mark else None,
    }


async def songs(
    request: web.Request, caller: Caller, tracks: list[Track], views: list[TrackOut] | None = None
) -> list[dict[str, Any]]:
    """The song elements of ``tracks``, with the caller's stars and ratings (``views``: their catalog
    views, when the caller has them already)."""
    if views is None:
        views = await request.app[keys.CATALOG].track_views(tracks)
    named = [NamedTrack(t, v.artist_name, v.album_title) for t, v in zip(tracks, views, strict=True)]
    return await named_songs(request, caller, named)


async def named_songs(request: web.Request, caller: Caller, named: list[NamedTrack]) -> list[dict[str, Any]]:
    """The song elements of tracks whose artist and album names are known, with the caller's marks."""
    marks = await request.app[keys.ANNOTATIONS].for_items(caller.user.id, [n.track.id for n in named])
    return [song_element(n, marks.get(n.track.id)) for n in named]


def album_cover_id(album: AlbumOut) -> str | None:
    """The ``coverArt`` id of an album: the id of the track whose cover it shows."""
    return cover_track_id(album.cover_url)


def by_album(tracks: list[TrackOut]) -> dict[str, list[TrackOut]]:
    """Track views grouped by album (tracks without one are left out)."""
    grouped: dict[str, list[TrackOut]] = defaultdict(list)
    for track in tracks:
        if track.album_id:
            grouped[track.album_id].append(track)
    return grouped


def album_element(album: AlbumOut, tracks: list[TrackOut]) -> dict[str, Any]:
    genres = sorted({t.genre for t in tracks if t.genre})
    return {
        "id": album.id,
        "name": album.title,
        "artist": album.artist_name,
        "artistId": album.artist_id,
        "coverArt": album_cover_id(album),
        "songCount": len(tracks),
        "duration": round(sum(t.duration_ms or 0 for t in tracks) / 1000),
        "playCount": sum(t.play_count for t in tracks),
        "created": iso(album.created_at),
        "year": album.release_year,
        "genre": genres[0] if genres else None,
        "genres": [{"name": g} for g in genres],
    }


async def visible_tracks(catalog: CatalogService, caller: Caller, **filters: str) -> list[Track]:
    """Every track the caller may see that matches ``filters``, in track order."""
    return await catalog.visible_tracks(caller.principal, **filters)


async def get_artists(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    catalog = request.app[keys.CATALOG]
    album_counts: dict[str, int] = defaultdict(int)
    for album in await catalog.every_album():
        album_counts[album.artist_id] += 1
    index: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for artist in await catalog.every_artist():
        index[index_letter(artist.name)].append(
            {"id": artist.id, "name": artist.name, "albumCount": album_counts[artist.id]}
        )
    return {
        "artists": {
            "ignoredArticles": IGNORED_ARTICLES,
            "index": [{"name": letter, "artist": index[letter]} for letter in sorted(index)],
        }
    }


async def get_artist(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    artist_id = params.required("id")
    artist = await catalog.find_artist(artist_id)
    if artist is None:
        raise NotFound("No such artist.")
    albums = await catalog.album_views(await catalog.every_album(artist_id))
    grouped = by_album(await catalog.track_views(await visible_tracks(catalog, caller, artist_id=artist_id)))
    return {
        "artist": {
            "id": artist.id,
            "name": artist.name,
            "albumCount": len(albums),
            "album": [album_element(a, grouped[a.id]) for a in albums],
        }
    }


async def get_album(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    album_id = params.required("id")
    album = await catalog.find_album(album_id)
    if album is None:
        raise NotFound("No such album.")
    (summary,) = await catalog.album_views([album])
    tracks = await visible_tracks(catalog, caller, album_id=album_id)
    views = await catalog.track_views(tracks)
    return {"album": {**album_element(summary, views), "song": await songs(request, caller, tracks, views)}}


async def get_song(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(caller.principal, params.required("id"))
    (song,) = await songs(request, caller, [track])
    return {"song": song}
