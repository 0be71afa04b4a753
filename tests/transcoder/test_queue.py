"""The job queue on its own: delivery, heartbeat, take-over, release, retries, recovery.

Every test runs against the real Redis and against fakeredis (the embedded mode's Redis), whose
stream commands behave differently in places the queue has to work around.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis

from migrations import apply_pending
from server.catalog.store import TrackStore
from server.handles import Database, open_database
from server.jobs.runtime import make_queue
from server.settings import Settings
from transcoder.queue import GROUP, JobQueue

CLAIM_TIMEOUT = 0.4


@pytest.fixture(params=["redis", "fakeredis"])
async def redis(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url) if request.param == "redis" else fakeredis.FakeAsyncRedis()
    yield client
    await client.aclose()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with open_database(settings) as database:
        await apply_pending(database)
        yield database


@pytest.fixture
async def queue(settings: Settings, db: Database, redis: aioredis.Redis) -> JobQueue:
    quick = dataclasses.replace(settings, job_claim_timeout=CLAIM_TIMEOUT, job_retry_delay=0.3)
    q = make_queue(quick, db, redis)
    await q.ensure_group()
    return q


async def test_enqueue_records_the_job_and_delivers_it_once(queue: JobQueue) -> None:
    job = await queue.enqueue("track1")
    assert job.state == "queued" and job.attempts == 0 and job.message_id
    # A second enqueue while the first has not started reuses it.
    assert (await queue.enqueue("track1")).id == job.id

    got = await queue.claim("w1", block=0.2, held=set())
    assert got is not None
    assert (got.job_id, got.track_id, got.taken_over) == (job.id, "track1", False)
    assert await queue.claim("w2", block=0.2, held=set()) is None

    await queue.ack(got.message_id)
    assert await queue.redis.xlen(queue.stream) == 0
    assert (await queue.redis.xpending(queue.stream, GROUP))["pending"] == 0


async def test_a_blocked_claim_wakes_up_for_a_new_job(queue: JobQueue) -> None:
    waiting = asyncio.create_task(queue.claim("w1", block=3.0, held=set()))
    await asyncio.sleep(0.2)
    job = await queue.enqueue("track-late")
    got = await asyncio.wait_for(waiting, 3.0)
    assert got is not None and got.job_id == job.id


async def test_heartbeat_keeps_a_job_and_silence_hands_it_over(queue: JobQueue) -> None:
    job = await queue.enqueue("track2")
    got = await queue.claim("alive", block=0.2, held=set())
    assert got is not None
    for _ in range(4):  # 0.6 s in all, longer than the claim timeout, but with heartbeats
        await asyncio.sleep(CLAIM_TIMEOUT / 3)
        assert await queue.heartbeat("alive", {got.message_id}) == {got.message_id}
    assert await queue.claim("other", block=0.1, held=set()) is None

    await asyncio.sleep(CLAIM_TIMEOUT + 0.1)  # "alive" went silent: presumed dead
    taken = await queue.claim("other", block=0.1, held=set())
    assert taken is not None
    assert (taken.message_id, taken.job_id, taken.taken_over) == (got.message_id, job.id, True)
    # The old holder's heartbeat learns it lost the job, and does not steal it back.
    assert await queue.heartbeat("alive", {got.message_id}) == set()
    assert await queue.heartbeat("other", {got.message_id}) == {got.message_id}


async def test_released_jobs_are_taken_at_once(queue: JobQueue) -> None:
    await queue.enqueue("track3")
    got = await queue.claim("stopping", block=0.2, held=set())
    assert got is not None
    await queue.release("stopping", [got.message_id])
    again = await queue.claim("next", block=0.1, held=set())
    assert again is not None and again.message_id == got.message_id and again.taken_over


async def test_a_worker_is_never_handed_what_it_already_holds(queue: JobQueue) -> None:
    await queue.enqueue("track4")
    got = await queue.claim("w1", block=0.2, held=set())
    assert got is not None
    await asyncio.sleep(CLAIM_TIMEOUT + 0.1)
    assert await queue.claim("w1", block=0.1, held={got.message_id}) is None


async def test_a_burst_is_shared_between_workers(queue: JobQueue) -> None:
    waiting = asyncio.create_task(queue.claim("w1", block=3.0, held=set()))
    await asyncio.sleep(0.2)
    # Three entries in one go, while w1 waits: it keeps one and gives the others back.
    async with queue.redis.pipeline(transaction=True) as pipe:
        for i in range(3):
            pipe.xadd(queue.stream, {"job_id": f"job{i}", "track_id": f"t{i}"})
        await pipe.execute()
    first = await asyncio.wait_for(waiting, 3.0)
    assert first is not None
    others = [await queue.claim("w2", block=0.1, held=set()) for _ in range(2)]
    assert {d.job_id for d in others if d} | {first.job_id} == {"job0", "job1", "job2"}


async def test_deferred_retry_comes_back_after_its_delay(queue: JobQueue) -> None:
    job = await queue.enqueue("track5")
    got = await queue.claim("w1", block=0.2, held=set())
    assert got is not None
    await queue.defer(got, 0.5)
    assert await queue.redis.xlen(queue.stream) == 0
    assert await queue.claim("w1", block=0.1, held=set()) is None
    await asyncio.sleep(0.5)
    again = await queue.claim("w1", block=0.1, held=set())
    assert again is not None and again.job_id == job.id and again.message_id != got.message_id
    assert await queue.redis.zcard(queue.delayed) == 0


def test_backoff_doubles_and_is_capped(queue: JobQueue) -> None:
    assert [queue.backoff(n) for n in (1, 2, 3)] == [0.3, 0.6, 1.2]
    assert queue.backoff(40) == queue.config.max_retry_delay


async def test_job_record_drops_duplicates_and_allows_take_over(queue: JobQueue) -> None:
    job = await queue.enqueue("track6")
    jobs = queue.jobs
    started = await jobs.start(job.id, "w1", "1-1")
    assert started is not None and started.state == "running" and started.attempts == 1
    # A stray second entry for a running job is dropped...
    assert await jobs.start(job.id, "w2", "2-2") is None
    # ...but the same entry, taken over from a dead worker, restarts it.
    taken = await jobs.start(job.id, "w2", "1-1")
    assert taken is not None and taken.worker_id == "w2" and taken.attempts == 2
    # The dead worker waking up can no longer record anything.
    assert not await jobs.finish(job.id, "w1", elapsed_s=1.0)
    assert await jobs.finish(job.id, "w2", elapsed_s=1.0)
    assert (await jobs.get(job.id)).state == "done"
    assert await jobs.start(job.id, "w3", "1-1") is None


async def test_recover_requeues_lost_entries_and_orphan_tracks(queue: JobQueue, db: Database) -> None:
    tracks = TrackStore(db)
    orphan = await tracks.insert({"title": "orphan", "artist_id": "a", "status": "processing"})
    lost = await queue.enqueue("track-lost")
    kept = await queue.enqueue("track-kept")
    # Redis forgets the first entry (an embedded Redis after a restart forgets them all).
    await queue.redis.xdel(queue.stream, lost.message_id)

    requeued = await queue.recover([orphan.id, "track-kept"])
    assert sorted(requeued) == sorted([orphan.id, "track-lost"])
    live = {j.track_id: j for j in await queue.jobs.live()}
    assert set(live) == {orphan.id, "track-lost", "track-kept"}
    assert live["track-kept"].id == kept.id
    # Everything has an entry now: a second run (another replica starting) adds nothing.
    assert await queue.recover([orphan.id, "track-kept"]) == []
    delivered = set()
    while (got := await queue.claim("w", block=0.1, held=set())) is not None:
        delivered.add(got.track_id)
        await queue.ack(got.message_id)
    assert delivered == {orphan.id, "track-lost", "track-kept"}
