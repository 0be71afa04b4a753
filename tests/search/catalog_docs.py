"""Real catalog documents for discovery tests, written through the catalog's own stores.

The stores answer records; these helpers hand tests their documents (``to_doc``), ids under ``_id``.
Writing through the stores (not the HTTP API) publishes no ``library`` event, exactly like a change
made by another process; tests that want the event path go through ``CatalogService``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys


class Catalog:
    """Creates artists, albums and tracks; remembers artists and albums by name."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.artists: dict[str, dict[str, Any]] = {}
        self.albums: dict[str, dict[str, Any]] = {}

    async def artist(self, name: str) -> dict[str, Any]:
        if name not in self.artists:
            artist = await self.app[keys.CATALOG].artists.create(name=name, bio=None, owner_ids=[])
            self.artists[name] = artist.to_doc()
        return self.artists[name]

    async def album(self, title: str, artist: str, year: int | None = None) -> dict[str, Any]:
        if title not in self.albums:
            artist_doc = await self.artist(artist)
            album = await self.app[keys.CATALOG].albums.create(
                title=title, artist_id=artist_doc["_id"], release_year=year, owner_ids=[]
            )
            self.albums[title] = album.to_doc()
        return self.albums[title]

    async def track(
        self,
        title: str,
        artist: str,
        *,
        album: str | None = None,
        genre: str | None = None,
        year: int | None = None,
        status: str = "ready",
        plays: int = 0,
        duration_ms: int = 180_000,
        owner_id: str | None = None,
    ) -> dict[str, Any]:
        artist_doc = await self.artist(artist)
        album_doc = await self.album(album, artist, year) if album else None
        track = await self.app[keys.TRACKS].insert(
            {
                "title": title,
                "artist_id": artist_doc["_id"],
                "album_id": album_doc["_id"] if album_doc else None,
                "genre": genre,
                "release_year": year,
                "status": status,
                "play_count": plays,
                "duration_ms": duration_ms,
                "owner_id": owner_id,
            }
        )
        return track.to_doc()
