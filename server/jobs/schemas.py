"""Job payloads of the admin API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from media.records import Job
from server.timestamps import Timestamp

JobStateName = Literal["queued", "running", "done", "failed"]


class JobOut(BaseModel):
    id: str
    track_id: str
    state: JobStateName
    attempts: int
    max_attempts: int
    error: str | None
    worker_id: str | None
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    next_attempt_at: Timestamp | None
    elapsed_s: float | None
    refresh: bool = Field(False, description="A re-analysis of a ready track, which stays playable.")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            track_id=job.track_id,
            state=job.state,
            attempts=max(0, job.attempts),
            max_attempts=job.max_attempts,
            error=job.error,
            worker_id=job.worker_id,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            next_attempt_at=job.next_attempt_at,
            elapsed_s=job.elapsed_s,
            refresh=job.refresh,
        )


class JobList(BaseModel):
    items: list[JobOut]
    total: int


class JobsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: JobStateName | None = None
    track_id: str | None = Field(None, max_length=64)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class ReanalyseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    everything: bool = Field(
        False, description="Every ready track; by default those transcoded before gapless and album loudness."
    )
    limit: int = Field(1000, ge=1, le=10_000, description="At most this many tracks per call.")


class ReanalyseOut(BaseModel):
    queued: int
    remaining: int = Field(description="Tracks left over by ``limit`` (call again once these are done).")
