"""Recommendation payloads (API.md, "Recommendations"): track JSON plus the reason it was picked."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.catalog.schemas import TrackOut

MAX_LIMIT = 50


class RecommendedTrack(TrackOut):
    reason: str = Field(description='For people: "Because you played Nina Simone", "Popular in Jazz".')
    reason_kind: Literal["artist", "genre", "co_listened", "same_artist", "same_genre", "trending", "popular"]


class RecommendationList(BaseModel):
    tracks: list[RecommendedTrack]


class LimitQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, description=f"Capped at {MAX_LIMIT}.")


class TrendingQuery(LimitQuery):
    genre: str | None = Field(None, max_length=256)
