"""Builds search, playlists and recommendations for ``create_app`` (one ``cleanup_ctx`` entry).

They share the search index (recommendations read catalog facts from it) and the catalog reads of
:class:`SearchStore`, so they are wired together, after the catalog services they call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from media.events import LIBRARY, TRACK
from server import keys
from server.playlists.service import PlaylistService
from server.playlists.store import PlaylistStore
from server.recommend.service import RecommendService
from server.recommend.store import ListeningStore
from server.search.service import SearchService
from server.search.store import SearchStore
from server.shutdown import bounded


async def discovery_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    db = app[keys.DB]
    events = app[keys.EVENTS]
    reader = SearchStore(db)
    search = SearchService(
        reader,
        app[keys.CATALOG],
        settings.data_dir / "search",
        refresh_seconds=settings.search_refresh_seconds,
        reconcile_seconds=settings.search_reconcile_seconds,
    )
    playlists = PlaylistService(PlaylistStore(db), app[keys.CATALOG])
    app[keys.SEARCH] = search
    app[keys.PLAYLISTS] = playlists
    app[keys.RECOMMEND] = RecommendService(
        search=search,
        catalog=app[keys.CATALOG],
        listening=ListeningStore(db),
        redis=app[keys.REDIS],
        prefix=settings.redis_prefix,
    )
    events.subscribe(search.on_library, LIBRARY)
    events.subscribe(search.on_track, TRACK)
    events.subscribe(playlists.on_library, LIBRARY)
    supervisor = app[keys.SUPERVISOR]
    supervisor.start("search-index", search.run)
    yield
    await bounded(supervisor.stop("search-index"), seconds=10, what="search index")
    search.close()
