"""``GET /api/v1/search``: as-you-type search across tracks, albums and artists."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.api import SIGNED_IN, Api
from server.search.schemas import SearchOut, SearchQuery

api = Api("/api/v1")


@api.route("GET", "/search", roles=SIGNED_IN, query=SearchQuery, response=SearchOut, tags=["search"])
async def search(request: web.Request, query: SearchQuery) -> SearchOut:
    """Tracks, albums and artists matching ``q`` (prefix, accents and case ignored, one typo allowed)."""
    return await request.app[keys.SEARCH].search(request[keys.PRINCIPAL], query)
