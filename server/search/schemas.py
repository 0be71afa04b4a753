"""Search payloads of the public API (API.md, "Search")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.catalog.schemas import AlbumOut, ArtistOut, TrackOut

MAX_QUERY = 100
MAX_LIMIT = 50
"""Larger limits are capped to this, not refused."""
KIND_NAMES = {"track": "track", "album": "album", "artist": "artist"}


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        ..., max_length=MAX_QUERY, description="What was typed so far; its last word may be a prefix."
    )
    type: str = Field(
        "track,album,artist", max_length=40, description="Comma-separated: track, album, artist."
    )
    genre: str | None = Field(None, max_length=256)
    year_from: int | None = Field(None, ge=0, le=9999)
    year_to: int | None = Field(None, ge=0, le=9999)
    artist_id: str | None = Field(None, max_length=64)
    sort: Literal["relevance", "title", "year", "plays"] = Field(
        "relevance", description="year = newest first; plays = most played first."
    )
    limit: int = Field(20, ge=1, description=f"Per kind; capped at {MAX_LIMIT}.")
    offset: int = Field(0, ge=0, le=10_000)

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("type")
    @classmethod
    def _known_types(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        unknown = [p for p in parts if p not in KIND_NAMES]
        if not parts or unknown:
            raise ValueError("expected a comma-separated list of track, album, artist")
        return ",".join(dict.fromkeys(parts))


class TrackHits(BaseModel):
    items: list[TrackOut]
    total: int


class AlbumHits(BaseModel):
    items: list[AlbumOut]
    total: int


class ArtistHits(BaseModel):
    items: list[ArtistOut]
    total: int


class SearchOut(BaseModel):
    tracks: TrackHits
    albums: AlbumHits
    artists: ArtistHits
