"""Job delivery over a Redis Streams consumer group; the job's state lives in :mod:`transcoder.jobs`.

Keys (all under the deployment's prefix)::

    {prefix}jobs          stream, one entry per delivery: {job_id, track_id}
    {prefix}jobs:delayed  sorted set of retries waiting for their backoff: "job_id|track_id" → due time

How a job travels: ``enqueue`` writes the job record and XADDs an entry. A worker takes entries with
XREADGROUP (consumer group ``transcoders``, one consumer per worker process) and keeps each entry's
idle time low with a heartbeat (``XCLAIM … JUSTID``, which resets it) while ffmpeg runs. An entry
whose owner died stops being refreshed; once idle longer than ``claim_timeout`` any worker takes it
over with XAUTOCLAIM. When done the entry is XACKed and XDELed (the stream stays short). A transient
failure moves the job to the delayed set and acks the entry; ``promote_due`` (atomic, in Lua) moves
it back into the stream when its backoff has passed, so a retry survives every worker restarting.

fakeredis (the embedded mode's Redis) mishandles XREADGROUP with COUNT and BLOCK together, and
XREADGROUP BLOCK when entries are already waiting (it delivers them but answers nothing). So
:meth:`JobQueue.claim` reads with COUNT 1 and no BLOCK first, then waits with BLOCK and no COUNT, and
after a wait that answered nothing picks up whatever was delivered to it anyway from its own history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from media.records import Job
from transcoder.jobs import JobStore

GROUP = "transcoders"
RELEASED_CONSUMER = "released"
"""Pseudo-consumer that holds released entries (idle time set huge, so the next XAUTOCLAIM takes them)."""

# Moves due retries back into the stream; ZREM and XADD in one script, so a retry is never lost or doubled.
_PROMOTE_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local job, track = string.match(member, '^([^|]+)|(.*)$')
  redis.call('XADD', KEYS[2], '*', 'job_id', job, 'track_id', track)
end
return #due
"""

# Refreshes the idle time of the entries this consumer still owns and returns those ids. Checking the
# owner in the same script matters: a plain XCLAIM would steal back an entry another worker just took over.
# KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids.
_HEARTBEAT_LUA = """
local kept = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    table.insert(kept, ARGV[i])
  end
end
return kept
"""


@dataclass(frozen=True, slots=True)
class QueueConfig:
    prefix: str
    """Every key starts with this (the deployment's ``redis_prefix``)."""
    claim_timeout: float = 30.0
    """Seconds without a heartbeat after which a running job's worker is presumed dead."""
    max_attempts: int = 5
    retry_delay: float = 10.0
    """Backoff before the first retry; it doubles with each further attempt."""
    max_retry_delay: float = 900.0

    @property
    def heartbeat_interval(self) -> float:
        # Three beats per timeout: one lost or late beat never makes a live worker look dead.
        return self.claim_timeout / 3


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry handed to a worker."""

    message_id: str
    job_id: str
    track_id: str
    taken_over: bool
    """True when it came from XAUTOCLAIM: an earlier holder died, stopped, or released it."""


class JobQueue:
    """Enqueue, claim, heartbeat, finish and retry transcode jobs."""

    def __init__(self, redis: aioredis.Redis, jobs: JobStore, config: QueueConfig) -> None:
        self.redis = redis
        self.jobs = jobs
        self.config = config
        self.stream = f"{config.prefix}jobs"
        self.delayed = f"{config.prefix}jobs:delayed"
        self._promote = redis.register_script(_PROMOTE_LUA)
        self._heartbeat = redis.register_script(_HEARTBEAT_LUA)

    # --- producing ----------------------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the stream and the consumer group if needed (idempotent)."""
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if redis_error_code(exc) != "BUSYGROUP":
                raise

    async def enqueue(self, track_id: str, *, refresh: bool = False) -> Job:
        """Queue a transcode of ``track_id``; a job already queued for it is reused (it reads the
        original only when it starts). ``refresh``: the track is ready and stays so (``Job.refresh``).
        Returns the job record."""
        job = await self.jobs.live_for_track(track_id)
        if job is not None and job.state == "queued":
            return job
        job = await self.jobs.create(track_id, refresh=refresh)
        return replace(job, message_id=await self._publish(job.id, track_id))

    async def retry(self, job_id: str) -> Job:
        """Queue a failed job again with fresh attempts (JobNotFound / JobStateConflict otherwise)."""
        job = await self.jobs.reset(job_id)
        return replace(job, message_id=await self._publish(job_id, job.track_id))

    async def recover(self, processing_track_ids: list[str]) -> list[str]:
        """Queue again what would otherwise wait forever; returns the track ids queued.

        A live job whose entry is neither in the stream nor in the delayed set lost it (an embedded
        Redis restarts empty; a real one may lose its last writes): it gets a new entry. A track still
        ``processing`` without any live job gets a new job. Running twice, or beside workers, is safe:
        a duplicate entry finds its job started already and is dropped (see ``JobStore.start``).
        """
        await self.ensure_group()
        present = {_field(fields, "job_id") for _, fields in await self.redis.xrange(self.stream)}
        present |= {_text(m).partition("|")[0] for m in await self.redis.zrange(self.delayed, 0, -1)}
        requeued: list[str] = []
        live_tracks: set[str] = set()
        for job in await self.jobs.live():
            live_tracks.add(job.track_id)
            if job.id not in present:
                await self.jobs.requeue(job.id)
                await self._publish(job.id, job.track_id)
                requeued.append(job.track_id)
        for track_id in processing_track_ids:
            if track_id not in live_tracks:
                await self.enqueue(track_id)
                requeued.append(track_id)
        return requeued

    async def _publish(self, job_id: str, track_id: str) -> str:
        # The record learns its entry's id when a worker starts it (JobStore.start): one write less.
        return _text(await self.redis.xadd(self.stream, {"job_id": job_id, "track_id": track_id}))

    # --- consuming ----------------------------------------------------------------------------

    async def claim(self, consumer: str, *, block: float, held: set[str]) -> Delivery | None:
        """The next entry for ``consumer``, waiting up to ``block`` seconds; None when there is none.

        Order: due retries are promoted; an entry idle past ``claim_timeout`` (its worker died, or it
        was released) is taken over; then a new entry. ``held`` are the entries the caller already
        runs: they are never handed out a second time. Only one claim per consumer at a time.
        """
        await self.promote_due()
        claimed = await self.redis.xautoclaim(
            self.stream,
            GROUP,
            consumer,
            min_idle_time=int(self.config.claim_timeout * 1000),
            start_id="0-0",
            count=1,
        )
        entries = claimed[1]
        if entries and _text(entries[0][0]) not in held:
            return _delivery(entries[0], taken_over=True)
        found = await self._read(consumer, ">", count=1)
        if not found:
            found = await self._read(consumer, ">", block_ms=max(1, int(block * 1000)))
            if not found:
                found = [e for e in await self._read(consumer, "0") if _text(e[0]) not in held]
        if not found:
            return None
        # A blocking read answers everything that arrived; take one, let other workers have the rest.
        await self.release(consumer, [_text(e[0]) for e in found[1:]])
        return _delivery(found[0], taken_over=False)

    async def _read(
        self, consumer: str, start: str, *, count: int | None = None, block_ms: int | None = None
    ) -> list[Any]:
        reply = await self.redis.xreadgroup(
            GROUP, consumer, {self.stream: start}, count=count, block=block_ms
        )
        # Deleted entries still pending show up with no fields; they are acked by whoever meets them.
        return [e for _, entries in (reply or []) for e in entries]

    async def heartbeat(self, consumer: str, message_ids: set[str]) -> set[str]:
        """Reset the idle time of the entries ``consumer`` still owns; returns those still owned.

        An entry missing from the answer was taken over by another worker: the caller should stop
        working on it.
        """
        if not message_ids:
            return set()
        kept = await self._heartbeat(keys=[self.stream], args=[GROUP, consumer, *sorted(message_ids)])
        return {_text(m) for m in kept}

    async def release(self, consumer: str, message_ids: list[str]) -> None:
        """Give entries back at once: the next XAUTOCLAIM of any worker takes them."""
        if message_ids:
            idle_ms = int(self.config.claim_timeout * 1000) * 10 + 60_000
            await self.redis.xclaim(
                self.stream,
                GROUP,
                RELEASED_CONSUMER,
                min_idle_time=0,
                message_ids=message_ids,
                idle=idle_ms,
                justid=True,
            )

    async def ack(self, message_id: str) -> None:
        """The entry is dealt with (done, failed, or moved to the delayed set)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, message_id)
            pipe.xdel(self.stream, message_id)
            await pipe.execute()

    async def defer(self, delivery: Delivery, delay: float) -> None:
        """Deliver the job again after ``delay`` seconds (a retry's backoff); the entry is acked."""
        member = f"{delivery.job_id}|{delivery.track_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.delayed, {member: time.time() + delay})
            pipe.xack(self.stream, GROUP, delivery.message_id)
            pipe.xdel(self.stream, delivery.message_id)
            await pipe.execute()

    async def promote_due(self) -> int:
        """Move retries whose backoff has passed into the stream; returns how many."""
        return int(await self._promote(keys=[self.delayed, self.stream], args=[time.time()]))

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before attempt ``attempts + 1``: retry_delay · 2^(attempts-1), capped."""
        return min(self.config.max_retry_delay, self.config.retry_delay * 2 ** max(0, attempts - 1))

    def due_at(self, delay: float) -> datetime:
        return (datetime.now(UTC) + timedelta(seconds=delay)).replace(tzinfo=None)

    async def forget_consumers(self, idle_over: float = 3600.0) -> None:
        """Remove consumers that hold nothing and were idle for long (workers that went away)."""
        try:
            consumers = await self.redis.xinfo_consumers(self.stream, GROUP)
        except ResponseError:
            return
        for info in consumers:
            name = _text(info["name"])
            if info["pending"] == 0 and info["idle"] > idle_over * 1000 and name != RELEASED_CONSUMER:
                await self.redis.xgroup_delconsumer(self.stream, GROUP, name)


def redis_error_code(exc: ResponseError) -> str:
    """The error code a Redis error reply starts with (``BUSYGROUP``, ``NOGROUP``, ``ERR``…).

    Redis has no error classes of its own on the wire: the first word of an error reply is the code its
    protocol defines (RESP "simple errors"), and redis-py raises all of them as ``ResponseError``.
    """
    return str(exc).split(" ", 1)[0].upper()


def is_missing_group(exc: BaseException) -> bool:
    """Redis lost the consumer group (it restarted empty): the group must be created again."""
    return isinstance(exc, ResponseError) and redis_error_code(exc) == "NOGROUP"


def _delivery(entry: Any, *, taken_over: bool) -> Delivery:
    message_id, fields = entry
    return Delivery(
        message_id=_text(message_id),
        job_id=_field(fields, "job_id"),
        track_id=_field(fields, "track_id"),
        taken_over=taken_over,
    )


def _text(value: bytes | str) -> str:
    """Replies are bytes unless the client decodes responses; accept both."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _field(fields: dict[Any, Any] | None, name: str) -> str:
    # An entry deleted while still pending comes back without fields.
    if not fields:
        return ""
    value = fields.get(name.encode(), fields.get(name))
    return _text(value) if value is not None else ""
