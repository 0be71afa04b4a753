"""Playback and history payloads of the public API (REST and the Socket.IO ``playback:command``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from media.records import Listen
from server.timestamps import Timestamp

DEVICE_ID = r"^[A-Za-z0-9._:-]{1,64}$"
COMMAND_ID = r"^[A-Za-z0-9_-]{1,64}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlayIn(Strict):
    track_id: str = Field(min_length=1, max_length=64)
    position_ms: int = Field(0, ge=0)
    device_id: str | None = Field(None, pattern=DEVICE_ID)
    command_id: str | None = Field(None, pattern=COMMAND_ID)
    """Optional: a retried command with the same id has no further effect."""


class SeekIn(Strict):
    position_ms: int = Field(ge=0)
    command_id: str | None = Field(None, pattern=COMMAND_ID)


class CommandIn(Strict):
    """The Socket.IO ``playback:command`` event."""

    action: Literal["play", "pause", "resume", "seek", "stop"]
    track_id: str | None = Field(None, min_length=1, max_length=64)
    position_ms: int | None = Field(None, ge=0)
    target_device_id: str | None = Field(None, pattern=DEVICE_ID)
    command_id: str | None = Field(None, pattern=COMMAND_ID)


class PlaybackOut(BaseModel):
    track_id: str | None
    position_ms: int
    """Current at the time of the answer."""
    is_playing: bool
    device_id: str | None
    updated_at: str | None
    """ISO 8601 UTC; None only before the user's first command. Never goes backwards."""


class HistoryQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    before: datetime | None = None
    """Only listens that started before this time: pass the last item's ``played_at`` for the next page."""


class HistoryItem(BaseModel):
    id: str
    track_id: str
    played_at: Timestamp
    ms_played: int
    device: str | None
    counted: bool
    """True once this listen counted toward the track's play_count."""

    @classmethod
    def of(cls, listen: Listen) -> HistoryItem:
        return cls(
            id=listen.id,
            track_id=listen.track_id,
            played_at=_utc(listen.played_at),
            ms_played=listen.ms_played,
            device=listen.device,
            counted=listen.counted,
        )


def _utc(value: datetime) -> datetime:
    # Stores hand back naive UTC; an aware value serialises with its zone, as API.md wants.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_before: Timestamp | None
    """Pass as ``before`` for the next page; None when this page is the last."""
