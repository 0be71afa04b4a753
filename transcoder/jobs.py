"""The ``jobs`` collection: the durable record of every transcode. The only code that touches it.

A job document::

    {_id, track_id, state: queued|running|done|failed, attempts (times a worker started it),
     max_attempts, error | None (the last failure, for humans), worker_id | None (who runs or ran it),
     message_id | None (the stream entry it was last started from), next_attempt_at | None (a retry's
     due time), elapsed_s | None (the successful run's transcode time),
     created_at, updated_at, started_at | None, finished_at | None}

Redis only delivers; this record decides. Every transition names the state it expects (and, for a
running job, the worker that must own it), so a delivery that arrives twice, or a worker that was
presumed dead and wakes up, finds the filter no longer matching and backs off.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from media.records import Job, JobState

LIVE_STATES: list[JobState] = ["queued", "running"]

Database = Any
"""A PyMongo-shaped async database (real MongoDB or the embedded store)."""


class JobError(Exception):
    """Base of the job errors; the server maps them to its own (404, 409)."""


class JobNotFound(JobError):
    """No job with that id."""


class JobStateConflict(JobError):
    """The job is not in a state that allows the requested change."""


def new_id() -> str:
    # The same time-ordered string ids the server's stores make (server.documents cannot be imported here).
    return str(ObjectId())


def utcnow() -> datetime:
    # Naive UTC at millisecond precision, like server.documents.utcnow: what both stores keep.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000, tzinfo=None)


class JobStore:
    """Reads and state transitions of job records."""

    def __init__(self, db: Database, *, max_attempts: int = 5) -> None:
        self._jobs = db["jobs"]
        self.max_attempts = max_attempts

    async def create(self, track_id: str, *, refresh: bool = False) -> Job:
        """A new ``queued`` job for ``track_id`` (``refresh``: of a ready track, see ``Job.refresh``)."""
        now = utcnow()
        doc: dict[str, Any] = {
            "_id": new_id(),
            "track_id": track_id,
            "refresh": refresh,
            "state": "queued",
            "attempts": 0,
            "max_attempts": self.max_attempts,
            "error": None,
            "worker_id": None,
            "message_id": None,
            "next_attempt_at": None,
            "elapsed_s": None,
            "created_at": now,
            "updated_at": now,
            "started_at": None,
            "finished_at": None,
        }
        try:
            await self._jobs.insert_one(doc)
        except DuplicateKeyError:  # an id collision is practically impossible; one retry settles it
            doc["_id"] = new_id()
            await self._jobs.insert_one(doc)
        return Job.from_doc(doc)

    async def get(self, job_id: str) -> Job:
        doc = await self._jobs.find_one({"_id": job_id})
        if doc is None:
            raise JobNotFound("no such job")
        return Job.from_doc(doc)

    async def find(self, job_id: str) -> Job | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return None if doc is None else Job.from_doc(doc)

    async def live_for_track(self, track_id: str) -> Job | None:
        """The newest queued or running job of a track, if any."""
        found = await (
            self._jobs.find({"track_id": track_id, "state": {"$in": LIVE_STATES}})
            .sort("created_at", -1)
            .limit(1)
            .to_list(1)
        )
        return Job.from_doc(found[0]) if found else None

    async def live(self) -> list[Job]:
        """Every queued or running job (for recovery at start; there are few)."""
        return [Job.from_doc(d) for d in await self._jobs.find({"state": {"$in": LIVE_STATES}}).to_list(None)]

    async def list(
        self, *, state: JobState | None = None, track_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Job], int]:
        """Newest first, with the total count of the filter."""
        query: dict[str, Any] = {}
        if state:
            query["state"] = state
        if track_id:
            query["track_id"] = track_id
        total = await self._jobs.count_documents(query)
        docs = await self._jobs.find(query).sort("created_at", -1).skip(offset).limit(limit).to_list(limit)
        return [Job.from_doc(d) for d in docs], total

    async def start(self, job_id: str, worker_id: str, message_id: str) -> Job | None:
        """Mark the job running under ``worker_id``; None when this delivery must be dropped.

        A queued job starts with any delivery. A running job is taken over only through the very
        message it was started from (the queue hands that message out again only after its owner
        stopped sending heartbeats); a stray duplicate message finds no match.
        """
        now = utcnow()
        doc = await self._jobs.find_one_and_update(
            {
                "_id": job_id,
                "$or": [{"state": "queued"}, {"state": "running", "message_id": message_id}],
            },
            {
                "$set": {
                    "state": "running",
                    "worker_id": worker_id,
                    "message_id": message_id,
                    "next_attempt_at": None,
                    "started_at": now,
                    "finished_at": None,
                    "updated_at": now,
                },
                "$inc": {"attempts": 1},
            },
            return_document=True,
        )
        return None if doc is None else Job.from_doc(doc)

    async def holds(self, job_id: str, worker_id: str, attempt: int) -> bool:
        """Whether ``worker_id`` still runs the job as attempt ``attempt`` (a take-over changes both)."""
        found = await self._jobs.find_one(
            {"_id": job_id, "state": "running", "worker_id": worker_id, "attempts": attempt}, {"_id": 1}
        )
        return found is not None

    async def finish(self, job_id: str, worker_id: str, *, elapsed_s: float) -> bool:
        """running → done; False when ``worker_id`` no longer owns the job."""
        now = utcnow()
        return await self._transition(
            job_id,
            worker_id,
            {"state": "done", "error": None, "elapsed_s": round(elapsed_s, 3), "finished_at": now},
        )

    async def fail(self, job_id: str, worker_id: str, error: str) -> bool:
        """running → failed for good; False when ``worker_id`` no longer owns the job."""
        return await self._transition(
            job_id, worker_id, {"state": "failed", "error": error, "finished_at": utcnow()}
        )

    async def retry_later(self, job_id: str, worker_id: str, error: str, due: datetime) -> bool:
        """running → queued after a transient failure, to run again at ``due``."""
        return await self._transition(
            job_id, worker_id, {"state": "queued", "error": error, "next_attempt_at": due, "worker_id": None}
        )

    async def release(self, job_id: str, worker_id: str) -> bool:
        """running → queued because the worker is stopping: that attempt does not count."""
        now = utcnow()
        result = await self._jobs.update_one(
            {"_id": job_id, "state": "running", "worker_id": worker_id},
            {"$set": {"state": "queued", "worker_id": None, "updated_at": now}, "$inc": {"attempts": -1}},
        )
        return bool(result.matched_count == 1)

    async def requeue(self, job_id: str) -> None:
        """Back to queued whatever the state (its message was lost, e.g. Redis restarted empty)."""
        await self._jobs.update_one(
            {"_id": job_id, "state": {"$in": LIVE_STATES}},
            {"$set": {"state": "queued", "worker_id": None, "updated_at": utcnow()}},
        )

    async def reset(self, job_id: str) -> Job:
        """failed → queued with a fresh set of attempts (an admin's retry)."""
        doc = await self._jobs.find_one_and_update(
            {"_id": job_id, "state": "failed"},
            {
                "$set": {
                    "state": "queued",
                    "attempts": 0,
                    "error": None,
                    "worker_id": None,
                    "next_attempt_at": None,
                    "finished_at": None,
                    "updated_at": utcnow(),
                }
            },
            return_document=True,
        )
        if doc is None:
            await self.get(job_id)  # JobNotFound when it does not exist at all
            raise JobStateConflict("only a failed job can be retried")
        return Job.from_doc(doc)

    async def _transition(self, job_id: str, worker_id: str, changes: dict[str, Any]) -> bool:
        result = await self._jobs.update_one(
            {"_id": job_id, "state": "running", "worker_id": worker_id},
            {"$set": {**changes, "updated_at": utcnow()}},
        )
        return bool(result.matched_count == 1)
