"""``/api/v1/ladders``: ladders made on play, for the admin console — the cache's figures, and preparing
ladders ahead of their first play."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server import keys
from server.api import ADMIN, Api
from server.catalog.store import TrackQuery
from server.delivery.ladder_cache import CacheStats

api = Api("/api/v1")
_ALL = 100_000
"""Tracks read per prepare request (far above an album or an artist; "all" in pages of it)."""


class LaddersOut(BaseModel):
    enabled: bool
    """Whether scanned tracks get ladders on play (``HS_SCAN_LADDERS=on-play`` with local media)."""
    bytes: int
    """Segments made on play, on disk now (this server process's account)."""
    budget_bytes: int
    tracks: int
    """Tracks with segments made on play."""
    segments_made: int
    """Since this process started; each one a segment a player asked for before it existed."""
    tracks_evicted: int
    pending: int
    """Preparations and loudness analyses queued in the background."""


class PrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    album_id: str | None = Field(None, max_length=64)
    artist_id: str | None = Field(None, max_length=64)
    """Neither: every track made on play."""


class PrepareOut(BaseModel):
    queued: int


@api.route("GET", "/ladders", roles=ADMIN, response=LaddersOut, tags=["delivery"])
async def ladders(request: web.Request) -> LaddersOut:
    """The figures of the ladders made on play (admin)."""
    onplay = request.app.get(keys.ONPLAY)
    if onplay is not None and onplay.cache is not None:
        stats = await onplay.cache.stats()
    else:  # not made on play here: nothing counted, the budget it would have
        budget = request.app[keys.SETTINGS].ladder_cache_mb * 1024 * 1024
        stats = CacheStats(bytes=0, budget=budget, tracks=0, segments_made=0, tracks_evicted=0)
    return LaddersOut(
        enabled=onplay is not None,
        bytes=stats.bytes,
        budget_bytes=stats.budget,
        tracks=stats.tracks,
        segments_made=stats.segments_made,
        tracks_evicted=stats.tracks_evicted,
        pending=onplay.pending if onplay is not None else 0,
    )


@api.route(
    "POST",
    "/ladders/prepare",
    roles=ADMIN,
    body=PrepareIn,
    response=PrepareOut,
    status=202,
    tags=["delivery"],
)
async def prepare_ahead(request: web.Request, body: PrepareIn) -> PrepareOut:
    """Prepare the ladders of an album's, an artist's or every track made on play, in the background at
    low priority, so that their first plays start without a decode (admin)."""
    onplay = request.app.get(keys.ONPLAY)
    if onplay is None:
        return PrepareOut(queued=0)
    catalog = request.app[keys.CATALOG]
    query = TrackQuery(album_id=body.album_id, artist_id=body.artist_id, status="ready", everything=True)
    queued, offset = 0, 0
    while True:
        page = await catalog.list_tracks(query, sort="created_at", limit=_ALL, offset=offset)
        queued += onplay.prepare_later(page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return PrepareOut(queued=queued)
