"""Job payloads of the admin API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.api import Timestamp

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

    @classmethod
    def of(cls, doc: dict[str, Any]) -> JobOut:
        return cls(
            id=doc["_id"],
            track_id=doc["track_id"],
            state=doc["state"],
            attempts=max(0, int(doc.get("attempts") or 0)),
            max_attempts=int(doc.get("max_attempts") or 0),
            error=doc.get("error"),
            worker_id=doc.get("worker_id"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            started_at=doc.get("started_at"),
            finished_at=doc.get("finished_at"),
            next_attempt_at=doc.get("next_attempt_at"),
            elapsed_s=doc.get("elapsed_s"),
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
