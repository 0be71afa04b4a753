"""Playlist payloads of the public API (API.md, "Playlists")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from server.catalog.schemas import Bio, Id, Name, TrackOut
from server.timestamps import Timestamp

MAX_TRACKS = 5000
"""Tracks one playlist may hold."""
MAX_ADD = 500
"""Track ids one request may add."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlaylistOut(BaseModel):
    id: str
    user_id: str
    name: str
    description: str | None
    is_public: bool
    version: int = Field(description="Bumped by every change to the track list; send it back to edit safely.")
    tracks: list[TrackOut]
    track_count: int
    duration_ms: int
    created_at: Timestamp
    updated_at: Timestamp


class PlaylistSummary(BaseModel):
    """A playlist in a listing: everything but the tracks themselves."""

    id: str
    user_id: str
    name: str
    description: str | None
    is_public: bool
    version: int
    track_count: int
    created_at: Timestamp
    updated_at: Timestamp


class PlaylistList(BaseModel):
    items: list[PlaylistSummary]
    total: int


class PlaylistListQuery(Strict):
    user_id: Id | None = Field(None, description="Someone's public playlists; yours (all) when omitted.")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class PlaylistIn(Strict):
    name: Name
    description: Bio = None
    is_public: bool = False


class PlaylistPatch(Strict):
    name: Name | None = None
    description: Bio = None
    is_public: bool | None = None


class AddTracks(Strict):
    track_ids: list[Id] = Field(..., min_length=1, max_length=MAX_ADD)
    position: int | None = Field(None, ge=0, description="Insert before this position; the end when omitted.")
    allow_duplicates: bool = Field(
        False, description="A track already in the playlist (or twice in track_ids) is refused unless true."
    )


Position = Annotated[int, Field(ge=0)]


class MoveTrack(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Position = Field(..., alias="from")
    to: Position
    version: int | None = Field(
        None, description="Refuse with 409 unless the playlist is still at this version."
    )


class EditQuery(Strict):
    version: int | None = Field(
        None, description="Refuse with 409 unless the playlist is still at this version."
    )
