"""Lists and the rest of browsing: ``getAlbumList``/``getAlbumList2`` (every type), ``getRandomSongs``,
``getGenres``, ``getSongsByGenre``, ``getTopSongs``, ``getSimilarSongs2``, ``getArtistInfo2``,
``getAlbumInfo2``, ``getIndexes``, ``getMusicDirectory``, ``getNowPlaying``, ``getLyricsBySongId``.

Lists are computed over the albums and the caller's visible tracks, read once per request. That is
fine for the libraries of today's tests and small servers; the million-track library (its own issue)
needs them answered by indexes instead.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

from aiohttp import web

from media.records import Track
from server import keys
from server.catalog.schemas import AlbumOut, TrackOut
from server.subsonic.auth import Caller
from server.subsonic.browsing import (
    album_cover_id,
    album_element,
    by_album,
    index_letter,
    songs,
    visible_tracks,
)
from server.subsonic.protocol import Generic, NotFound, Params

MAX_LIST = 500
ALBUM_LIST_TYPES = (
    "random",
    "newest",
    "highest",
    "frequent",
    "recent",
    "alphabeticalByName",
    "alphabeticalByArtist",
    "starred",
    "byYear",
    "byGenre",
)


async def _albums_with_tracks(request: web.Request, caller: Caller) -> list[tuple[AlbumOut, list[TrackOut]]]:
    catalog = request.app[keys.CATALOG]
    albums = await catalog.album_views(await catalog.every_album())
    grouped = by_album(await catalog.track_views(await visible_tracks(catalog, caller)))
    # An album none of whose tracks the caller may see is not listed.
    return [(a, grouped[a.id]) for a in albums if grouped[a.id]]


async def get_album_list2(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    return {"albumList2": {"album": await _album_list(request, params, caller)}}


async def get_album_list(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    albums = await _album_list(request, params, caller)
    return {
        "albumList": {
            "album": [{**a, "title": a["name"], "isDir": True, "parent": a["artistId"]} for a in albums]
        }
    }


async def _album_list(request: web.Request, params: Params, caller: Caller) -> list[dict[str, Any]]:
    kind = params.required("type")
    if kind not in ALBUM_LIST_TYPES:
        raise Generic(f"Unknown list type: {kind}.")
    size = params.integer("size", 10, low=1, high=MAX_LIST) or 10
    offset = params.integer("offset", 0) or 0
    items = await _albums_with_tracks(request, caller)
    if kind == "random":
        items = random.sample(items, len(items))
    elif kind == "newest":
        items.sort(key=lambda p: p[0].created_at, reverse=True)
    elif kind == "frequent":
        items.sort(key=lambda p: sum(t.play_count for t in p[1]), reverse=True)
    elif kind == "alphabeticalByName":
        items.sort(key=lambda p: p[0].title.casefold())
    elif kind == "alphabeticalByArtist":
        items.sort(key=lambda p: ((p[0].artist_name or "").casefold(), p[0].title.casefold()))
    elif kind == "byYear":
        low = params.integer("fromYear", 0, high=9999) or 0
        high = params.integer("toYear", 9999, high=9999) or 9999
        lo, hi = min(low, high), max(low, high)
        items = [p for p in items if p[0].release_year is not None and lo <= p[0].release_year <= hi]
        items.sort(key=lambda p: p[0].release_year or 0, reverse=low > high)
    elif kind == "byGenre":
        genre = params.required("genre").casefold()
        items = [p for p in items if any((t.genre or "").casefold() == genre for t in p[1])]
    elif kind == "recent":
        recent = await _recently_played_albums(request, caller)
        order = {album_id: n for n, album_id in enumerate(recent)}
        items = sorted((p for p in items if p[0].id in order), key=lambda p: order[p[0].id])
    else:  # starred, highest: the caller's own annotations
        marks = await request.app[keys.ANNOTATIONS].for_kind(caller.user.id, "album")
        if kind == "starred":
            when = {m.item_id: m.starred_at for m in marks if m.starred_at}
            items = sorted((p for p in items if p[0].id in when), key=lambda p: when[p[0].id], reverse=True)
        else:
            rating = {m.item_id: m.rating for m in marks if m.rating}
            items = sorted(
                (p for p in items if p[0].id in rating), key=lambda p: rating[p[0].id], reverse=True
            )
    return [album_element(a, tracks) for a, tracks in items[offset : offset + size]]


async def _recently_played_albums(request: web.Request, caller: Caller) -> list[str]:
    history = await request.app[keys.HISTORY].recent(caller.user.id, limit=200, before=None)
    catalog = request.app[keys.CATALOG]
    tracks = await catalog.tracks_in_order([listen.track_id for listen in history])
    return list(dict.fromkeys(t.album_id for t in tracks if t.album_id))


async def get_random_songs(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    size = params.integer("size", 10, low=1, high=MAX_LIST) or 10
    tracks = await visible_tracks(catalog, caller)
    genre = (params.get("genre") or "").casefold()
    low = params.integer("fromYear", None, high=9999)
    high = params.integer("toYear", None, high=9999)
    picked = [
        t
        for t in tracks
        if (not genre or (t.genre or "").casefold() == genre)
        and (low is None or (t.release_year or 0) >= low)
        and (high is None or (t.release_year or 10_000) <= high)
    ]
    picked = random.sample(picked, min(size, len(picked)))
    return {"randomSongs": {"song": await songs(request, caller, picked)}}


async def get_genres(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    tracks = await visible_tracks(request.app[keys.CATALOG], caller)
    song_count: Counter[str] = Counter()
    albums: dict[str, set[str]] = defaultdict(set)
    for track in tracks:
        if track.genre:
            song_count[track.genre] += 1
            if track.album_id:
                albums[track.genre].add(track.album_id)
    return {
        "genres": {
            "genre": [
                {"value": name, "songCount": count, "albumCount": len(albums[name])}
                for name, count in sorted(song_count.items(), key=lambda kv: kv[0].casefold())
            ]
        }
    }


async def get_songs_by_genre(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    genre = params.required("genre").casefold()
    count = params.integer("count", 10, low=1, high=MAX_LIST) or 10
    offset = params.integer("offset", 0) or 0
    tracks = [t for t in await visible_tracks(catalog, caller) if (t.genre or "").casefold() == genre]
    tracks.sort(key=lambda t: (t.title.casefold(), t.id))
    return {"songsByGenre": {"song": await songs(request, caller, tracks[offset : offset + count])}}


async def get_top_songs(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    name = params.required("artist")
    count = params.integer("count", 50, low=1, high=MAX_LIST) or 50
    found = await catalog.list_artists(name_prefix=name, limit=20)
    artist = next((a for a in found.items if a.name.casefold() == name.casefold()), None)
    if artist is None:
        return {"topSongs": {"song": []}}
    tracks = await visible_tracks(catalog, caller, artist_id=artist.id)
    tracks.sort(key=lambda t: (-t.play_count, t.title.casefold()))
    return {"topSongs": {"song": await songs(request, caller, tracks[:count])}}


async def get_similar_songs2(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    count = params.integer("count", 50, low=1, high=MAX_LIST) or 50
    found = await request.app[keys.RECOMMEND].similar(
        caller.principal, params.required("id"), min(count, 100)
    )
    tracks = await catalog.tracks_in_order([t.id for t in found.tracks])
    return {"similarSongs2": {"song": await songs(request, caller, tracks)}}


async def get_artist_info2(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    artist = await request.app[keys.CATALOG].find_artist(params.required("id"))
    if artist is None:
        raise NotFound("No such artist.")
    return {"artistInfo2": {"biography": artist.bio or "", "similarArtist": []}}


async def get_album_info2(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    if await request.app[keys.CATALOG].find_album(params.required("id")) is None:
        raise NotFound("No such album.")
    return {"albumInfo": {"notes": ""}}


async def get_indexes(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    """Folder browsing, one level per artist: the artists are the directories of the one folder."""
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    index: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for artist in await catalog.every_artist():
        index[index_letter(artist.name)].append({"id": artist.id, "name": artist.name})
    return {
        "indexes": {
            "ignoredArticles": "The El La Los Las Le Les",
            "lastModified": 0,
            "index": [{"name": letter, "artist": index[letter]} for letter in sorted(index)],
        }
    }


async def get_music_directory(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    """An artist's directory holds its albums; an album's holds its songs."""
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    directory_id = params.required("id")
    artist = await catalog.find_artist(directory_id)
    if artist is not None:
        albums = await catalog.album_views(await catalog.every_album(directory_id))
        children = [
            {
                "id": a.id,
                "parent": directory_id,
                "isDir": True,
                "title": a.title,
                "album": a.title,
                "artist": a.artist_name,
                "year": a.release_year,
                "coverArt": album_cover_id(a),
            }
            for a in albums
        ]
        return {"directory": {"id": directory_id, "name": artist.name, "child": children}}
    album = await catalog.find_album(directory_id)
    if album is None:
        raise NotFound("No such directory.")
    tracks = await visible_tracks(catalog, caller, album_id=directory_id)
    return {
        "directory": {
            "id": directory_id,
            "parent": album.artist_id,
            "name": album.title,
            "child": await songs(request, caller, tracks),
        }
    }


async def get_now_playing(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    """What the caller plays now, on any of their devices. Other users' listening stays private."""
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    state = await request.app[keys.PLAYBACK].state(caller.user.id)
    if not state["is_playing"] or not state["track_id"]:
        return {"nowPlaying": {"entry": []}}
    track: Track = await catalog.visible_track(caller.principal, state["track_id"])
    (song,) = await songs(request, caller, [track])
    entry = {
        **song,
        "username": caller.user.username,
        "minutesAgo": 0,
        "playerName": state["device_id"] or "",
    }
    return {"nowPlaying": {"entry": [entry]}}


async def get_lyrics_by_song_id(
    request: web.Request, params: Params, caller: Caller | None
) -> dict[str, Any]:
    """The track's lyrics as OpenSubsonic ``structuredLyrics`` (the same as ``/api/v1/tracks/{id}/lyrics``);
    an empty list when it has none."""
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(caller.principal, params.required("id"))
    lyrics = await request.app[keys.LYRICS].get(track.id)
    if lyrics is None:
        return {"lyricsList": {"structuredLyrics": []}}
    view = await catalog.track_view(track)
    lines = [
        {"start": line.start_ms, "value": line.text} if lyrics.synced else {"value": line.text}
        for line in lyrics.lines
    ]
    structured = {
        "displayArtist": view.artist_name or "",
        "displayTitle": view.title,
        # The extension asks for "und" when the language is not known.
        "lang": lyrics.lang or "und",
        "offset": 0,
        "synced": lyrics.synced,
        "line": lines,
    }
    return {"lyricsList": {"structuredLyrics": [structured]}}
