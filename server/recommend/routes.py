"""``/api/v1/recommendations`` (for you, trending) and ``/api/v1/tracks/{id}/similar``."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.api import SIGNED_IN, Api
from server.recommend.schemas import MAX_LIMIT, LimitQuery, RecommendationList, TrendingQuery

api = Api("/api/v1")


@api.route(
    "GET",
    "/recommendations",
    roles=SIGNED_IN,
    query=LimitQuery,
    response=RecommendationList,
    tags=["recommendations"],
)
async def for_you(request: web.Request, query: LimitQuery) -> RecommendationList:
    """Tracks for the caller, from what they played lately (trending and popular ones without history)."""
    principal = request[keys.PRINCIPAL]
    return await request.app[keys.RECOMMEND].for_you(principal.user_id, min(query.limit, MAX_LIMIT))


@api.route(
    "GET",
    "/recommendations/trending",
    roles=SIGNED_IN,
    query=TrendingQuery,
    response=RecommendationList,
    tags=["recommendations"],
)
async def trending(request: web.Request, query: TrendingQuery) -> RecommendationList:
    """The most played tracks of the last days, recent plays counting more (of ``genre``, if given)."""
    genre = query.genre.strip() if query.genre and query.genre.strip() else None
    return await request.app[keys.RECOMMEND].trending(genre, min(query.limit, MAX_LIMIT))


@api.route(
    "GET",
    "/tracks/{id}/similar",
    roles=SIGNED_IN,
    query=LimitQuery,
    response=RecommendationList,
    tags=["recommendations"],
)
async def similar(request: web.Request, query: LimitQuery) -> RecommendationList:
    """Tracks like this one: co-listened by others, by the same artist, of the same genre."""
    return await request.app[keys.RECOMMEND].similar(
        request[keys.PRINCIPAL], request.match_info["id"], min(query.limit, MAX_LIMIT)
    )
