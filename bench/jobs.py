"""Job queue overhead, without ffmpeg: what one transcode job costs in Redis and database round trips.

    .venv/bin/python bench/jobs.py [--jobs 300]

For the real Redis (a private redis-server on loopback) and fakeredis, each with the embedded
store in a temp dir: enqueue rate, and the rate of a full job life cycle by one consumer (claim →
record running → record done → ack). Then the take-over delay: a consumer claims a job and goes
silent; how long until another one gets it (expected: claim timeout + at most one poll interval).
Bounded: a few hundred jobs, a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fakeredis
import redis.asyncio as aioredis

from migrations import apply_pending
from server.handles import open_database
from server.jobs.runtime import make_queue
from server.settings import Settings
from tests.services import private_redis
from transcoder.queue import JobQueue

CLAIM_TIMEOUT = 2.0
POLL = 0.5


async def life_cycles(queue: JobQueue, jobs: int) -> tuple[float, float]:
    started = time.perf_counter()
    for i in range(jobs):
        await queue.enqueue(f"track{i}")
    enqueue_rate = jobs / (time.perf_counter() - started)
    started = time.perf_counter()
    done = 0
    while done < jobs:
        d = await queue.claim("bench", block=POLL, held=set())
        assert d is not None
        assert await queue.jobs.start(d.job_id, "bench", d.message_id) is not None
        assert await queue.jobs.finish(d.job_id, "bench", elapsed_s=0.0)
        await queue.ack(d.message_id)
        done += 1
    return enqueue_rate, jobs / (time.perf_counter() - started)


async def take_over_delay(queue: JobQueue) -> float:
    await queue.enqueue("victim")
    d = await queue.claim("dies", block=POLL, held=set())
    assert d is not None
    silent_since = time.perf_counter()
    while (got := await queue.claim("rescuer", block=POLL, held=set())) is None:
        pass
    assert got.message_id == d.message_id
    return time.perf_counter() - silent_since


async def run(label: str, redis: aioredis.Redis, jobs: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            secret_key="bench",
            redis_prefix=f"bench:{time.time_ns()}:",
            job_claim_timeout=CLAIM_TIMEOUT,
        )
        async with open_database(settings) as db:
            await apply_pending(db)
            queue = make_queue(settings, db, redis)
            await queue.ensure_group()
            enqueue_rate, cycle_rate = await life_cycles(queue, jobs)
            delay = await take_over_delay(queue)
        await redis.delete(queue.stream, queue.delayed)
    return [f"| {label} | {enqueue_rate:,.0f} | {cycle_rate:,.0f} | {delay:.2f} s |"]


async def main(jobs: int) -> None:
    rows = [
        "| Redis (store: embedded) | enqueue/s | job life cycles/s | take-over after "
        f"{CLAIM_TIMEOUT:g} s silence |",
        "|---|---|---|---|",
    ]
    with private_redis() as url:
        client = aioredis.from_url(url)
        rows += await run("redis-server 7 (loopback)", client, jobs)
        await client.aclose()
    fake = fakeredis.FakeAsyncRedis()
    rows += await run("fakeredis (in-process)", fake, jobs)
    await fake.aclose()
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    asyncio.run(main(min(max(1, parser.parse_args().jobs), 5000)))
