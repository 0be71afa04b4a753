"""``search3`` (and ``search2``, the same by tags here): the search service, or, for an empty query,
the whole library in a stable order (how Symfonium and others sync it, page by page)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys
from server.api import validate
from server.search.schemas import MAX_LIMIT, SearchQuery
from server.subsonic.auth import Caller
from server.subsonic.browsing import album_element, named_songs, songs
from server.subsonic.protocol import Params

EMPTY_QUERIES = ("", '""', "''")
LISTING_MAX = 1000
"""The largest page of an empty-query ``search3``."""


async def search3(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    query = (params.get("query") or "").strip()
    # Apps syncing a library ask for big pages and stop at the first short one, so an empty query
    # honours up to LISTING_MAX per page; a real search gives at most the search service's limit.
    cap = LISTING_MAX if query in EMPTY_QUERIES else MAX_LIMIT
    counts = {
        kind: (
            min(params.integer(f"{kind}Count", 20) or 0, cap),
            params.integer(f"{kind}Offset", 0) or 0,
        )
        for kind in ("artist", "album", "song")
    }
    if query in EMPTY_QUERIES:
        return {"searchResult3": await _everything(request, caller, counts)}
    return {"searchResult3": await _search(request, caller, query, counts)}


async def _everything(
    request: web.Request, caller: Caller, counts: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    """Pages of the whole library by title, from the search service's memory (no database read)."""
    search = request.app[keys.SEARCH]
    out: dict[str, Any] = {"artist": [], "album": [], "song": []}
    count, offset = counts["artist"]
    if count:
        artists, _ = await search.list_artists(offset, count)
        out["artist"] = [{"id": a.id, "name": a.name} for a in artists]
    count, offset = counts["album"]
    if count:
        albums, _ = await search.list_albums(offset, count)
        out["album"] = [album_element(a, []) for a in albums]
    count, offset = counts["song"]
    if count:
        found, _ = await search.list_tracks(caller.principal, offset, count)
        out["song"] = await named_songs(request, caller, found)
    return out


async def _search(
    request: web.Request, caller: Caller, query: str, counts: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    search = request.app[keys.SEARCH]
    catalog = request.app[keys.CATALOG]
    out: dict[str, Any] = {"artist": [], "album": [], "song": []}
    for kind, type_ in (("artist", "artist"), ("album", "album"), ("song", "track")):
        count, offset = counts[kind]
        if not count:
            continue
        found = await search.search(
            caller.principal,
            validate(SearchQuery, {"q": query, "type": type_, "limit": count, "offset": offset}),
        )
        if kind == "artist":
            out["artist"] = [{"id": a.id, "name": a.name} for a in found.artists.items]
        elif kind == "album":
            out["album"] = [album_element(a, []) for a in found.albums.items]
        else:
            tracks = await catalog.tracks_in_order([t.id for t in found.tracks.items])
            out["song"] = await songs(request, caller, tracks)
    return out
