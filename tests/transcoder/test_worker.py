"""The worker end to end: real Redis, the test's own store, real ffmpeg on generated audio.

Tracks are saved the way the catalog saves them (``TrackStore``, original under the media root) and
queued through the ``JobQueue``, so these tests see exactly what a worker sees after an upload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from media.events import SOCKETIO_CHANNEL_SUFFIX
from media.layout import MediaLayout
from media.records import Job, Track
from migrations import apply_pending
from server.catalog.store import TrackStore
from server.events import EventBus
from server.handles import Database, open_database
from server.jobs.runtime import make_queue, make_worker
from server.settings import Settings
from tests.audio import ffmpeg_processes_mentioning, make_audio, make_garbage, make_jpeg
from tests.helpers import save_processing_track, wait_until
from tests.services import S3_BUCKET, free_port
from transcoder.publish import SocketIOPublisher
from transcoder.queue import JobQueue
from transcoder.scratch import ScratchSpace
from transcoder.worker import ProgressThrottle, Worker

ROOT = Path(__file__).resolve().parents[2]
RUNGS = {"64k", "128k", "256k"}


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with open_database(settings) as database:
        await apply_pending(database)
        yield database


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


class Events:
    """Everything published on a real ``EventBus``, in order."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.seen: list[tuple[str, dict, str | None]] = []
        self.bus.subscribe(self._record)

    async def _record(self, event: str, payload: dict, user_id: str | None) -> None:
        self.seen.append((event, payload, user_id))

    def of(self, event: str) -> list[dict]:
        return [p for e, p, _ in self.seen if e == event]


@asynccontextmanager
async def running(
    settings: Settings, db: Database, redis: aioredis.Redis, events: Events | None = None
) -> AsyncIterator[Worker]:
    worker = make_worker(settings, make_queue(settings, db, redis), db, (events or Events()).bus)
    await worker.start()
    try:
        yield worker
    finally:
        async with asyncio.timeout(30):  # a hang in stop() must fail the test, not stall the run
            await worker.stop(grace=0)


async def _no_ffmpeg_mentioning(text: str) -> bool:
    return not ffmpeg_processes_mentioning(text)


async def settled(db: Database, track_id: str, *, within: float = 60.0) -> Track:
    """The track once it is ready or failed."""

    async def check() -> Track | None:
        track = await TrackStore(db).find(track_id)
        return track if track and track.status != "processing" else None

    return await wait_until(check, within=within, what=f"track {track_id} to settle")


def assert_one_set_of_outputs(settings: Settings, track_id: str) -> None:
    """hls/ holds this track's ladder and nothing else: no temp or old copies, no stray files."""
    hls = settings.media_dir / "hls"
    assert sorted(p.name for p in hls.iterdir()) == [track_id]
    out = hls / track_id
    assert {p.name for p in out.iterdir() if p.is_dir()} == RUNGS
    for rung in RUNGS:
        index = (out / rung / "index.m3u8").read_text()
        listed = {line for line in index.splitlines() if line and not line.startswith("#")}
        assert sorted(p.name for p in (out / rung).iterdir()) == sorted({"index.m3u8", "init.mp4", *listed})
    assert (out / "master.m3u8").is_file()


async def test_a_queued_track_becomes_ready_with_its_ladder(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path
) -> None:
    source = make_audio(tmp_path / "song.flac", "flac", 8, cover=make_jpeg(80, 60))
    track_id = await save_processing_track(settings, db, source, owner_id="uploader")
    events = Events()
    async with running(settings, db, redis, events):
        job = await make_queue(settings, db, redis).enqueue(track_id)
        track = await settled(db, track_id)

    assert track.status == "ready" and track.error is None and track.progress == 100
    assert track.duration_ms is not None and abs(track.duration_ms - 8000) < 100
    assert {r.name for r in track.renditions} == RUNGS
    assert all((r.peak_bandwidth or 0) >= (r.average_bandwidth or 0) > 0 for r in track.renditions)
    assert track.loudness is not None and track.loudness.integrated_lufs is not None
    assert track.cover == f"covers/{track_id}.jpg"
    assert (settings.media_dir / track.cover).read_bytes()[:2] == b"\xff\xd8"
    assert_one_set_of_outputs(settings, track_id)

    record = await make_queue(settings, db, redis).jobs.get(job.id)
    assert record.state == "done" and record.attempts == 1 and record.error is None
    assert record.started_at <= record.finished_at and record.elapsed_s > 0

    # The uploader saw progress climb, then "ready"; everyone saw the library change.
    mine = [(p, u) for e, p, u in events.seen if e == "track"]
    assert all(u == "uploader" for _, u in mine)
    progress = [p["progress"] for p, _ in mine]
    assert progress == sorted(progress) and len(progress) >= 2
    assert mine[-1][0] == {"id": track_id, "status": "ready", "progress": 100, "error": None}
    assert {"kind": "track", "id": track_id, "action": "updated"} in events.of("library")


async def test_bad_input_fails_at_once_with_a_reason(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path
) -> None:
    track_id = await save_processing_track(settings, db, make_garbage(tmp_path / "essay.mp3", "text"))
    events = Events()
    async with running(settings, db, redis, events):
        job = await make_queue(settings, db, redis).enqueue(track_id)
        track = await settled(db, track_id)
        await asyncio.sleep(1.0)  # several retry delays: none may happen
        record = await make_queue(settings, db, redis).jobs.get(job.id)

    assert track.status == "failed"
    assert "not a recognised audio file" in track.error
    assert str(tmp_path) not in track.error and str(settings.data_dir) not in track.error
    assert record.state == "failed" and record.attempts == 1 and record.error == track.error
    assert await redis.zcard(f"{settings.redis_prefix}jobs:delayed") == 0
    last = events.of("track")[-1]
    assert last == {"id": track_id, "status": "failed", "progress": 0, "error": track.error}
    assert not (settings.media_dir / "hls" / track_id).exists()


async def test_a_transient_failure_is_retried(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(settings, job_retry_delay=1.0)
    track_id = await save_processing_track(settings, db, make_audio(tmp_path / "a.mp3", "mp3", 3))
    # ffmpeg is "not installed" for the first attempt: an operator problem, worth retrying.
    empty = tmp_path / "no-tools"
    empty.mkdir()
    real_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(empty))
    queue = make_queue(settings, db, redis)
    async with running(settings, db, redis):
        job = await queue.enqueue(track_id)

        async def waiting_for_retry() -> Job | None:
            doc = await queue.jobs.get(job.id)
            return doc if doc.state == "queued" and doc.error else None

        record = await wait_until(waiting_for_retry, what="the first attempt to fail")
        monkeypatch.setenv("PATH", real_path)
        assert record.attempts == 1 and "not installed" in record.error
        assert record.next_attempt_at is not None
        assert (await TrackStore(db).get(track_id)).status == "processing"
        track = await settled(db, track_id)

    assert track.status == "ready"
    record = await queue.jobs.get(job.id)
    assert record.state == "done" and record.attempts == 2 and record.error is None


async def test_transient_failures_give_up_after_max_attempts(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(settings, job_max_attempts=2, job_retry_delay=0.1)
    track_id = await save_processing_track(settings, db, make_audio(tmp_path / "a.mp3", "mp3", 2))
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    async with running(settings, db, redis):
        job = await make_queue(settings, db, redis).enqueue(track_id)
        track = await settled(db, track_id)
    record = await make_queue(settings, db, redis).jobs.get(job.id)
    assert track.status == "failed"
    assert "not installed" in track.error and "gave up after 2 attempts" in track.error
    assert record.state == "failed" and record.attempts == 2


async def test_a_track_deleted_before_its_turn_leaves_nothing(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path
) -> None:
    track_id = await save_processing_track(settings, db, make_audio(tmp_path / "a.wav", "wav", 2))
    queue = make_queue(settings, db, redis)
    job = await queue.enqueue(track_id)
    await TrackStore(db).delete(track_id)
    async with running(settings, db, redis):
        record = await wait_until(
            lambda: _state_in(queue, job.id, {"done", "failed"}), what="the job to close"
        )
    assert record.state == "failed" and record.error == "the track no longer exists"
    assert not (settings.media_dir / "hls" / track_id).exists()
    assert await redis.xlen(queue.stream) == 0


async def _state_in(queue: JobQueue, job_id: str, states: set[str]) -> Job | None:
    doc = await queue.jobs.get(job_id)
    return doc if doc.state in states else None


async def _running_with_progress(
    db: Database, queue: JobQueue, job_id: str, track_id: str, low: int = 10
) -> bool:
    job = await queue.jobs.get(job_id)
    track = await TrackStore(db).get(track_id)
    return job.state == "running" and low <= track.progress < 90


async def test_stopping_hands_a_running_job_to_the_next_worker(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path
) -> None:
    # A claim timeout far longer than the test: the job can only move on because it was released.
    settings = dataclasses.replace(settings, job_claim_timeout=600.0, worker_concurrency=1)
    track_id = await save_processing_track(settings, db, make_audio(tmp_path / "long.flac", "flac", 90))
    queue = make_queue(settings, db, redis)
    job = await queue.enqueue(track_id)
    first = make_worker(settings, queue, db, EventBus())
    await first.start()
    await wait_until(lambda: _running_with_progress(db, queue, job.id, track_id), what="the transcode")
    await first.stop(grace=0)

    record = await queue.jobs.get(job.id)
    assert record.state == "queued" and record.attempts == 0  # a released attempt does not count
    assert not list((settings.media_dir / "hls").glob(".*"))  # the pipeline removed its temp dir
    async with running(settings, db, redis) as second:
        track = await settled(db, track_id)
    record = await queue.jobs.get(job.id)  # after stop(), which lets the outcome be recorded
    assert track.status == "ready"
    assert record.state == "done" and record.worker_id == second.worker_id and record.attempts == 1
    assert_one_set_of_outputs(settings, track_id)


async def test_a_killed_worker_job_is_finished_by_another(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path
) -> None:
    """THE KILL TEST: SIGKILL a worker process mid-transcode; another worker takes the job over."""
    settings = dataclasses.replace(settings, job_claim_timeout=2.0, worker_concurrency=1)
    track_id = await save_processing_track(settings, db, make_audio(tmp_path / "long.flac", "flac", 120))
    queue = make_queue(settings, db, redis)
    job = await queue.enqueue(track_id)

    # `harmonystream worker` in its own process, on the same Redis and the same embedded store.
    env = {
        **os.environ,
        "HS_DATA_DIR": str(settings.data_dir),
        "HS_MONGO_URL": settings.mongo_url,
        "HS_MONGO_DB": settings.mongo_db,
        "HS_REDIS_URL": settings.redis_url,
        "HS_REDIS_PREFIX": settings.redis_prefix,
        "HS_SECRET_KEY": settings.secret_key,
        "HS_JOB_CLAIM_TIMEOUT": "2",
        "HS_JOB_POLL_INTERVAL": "0.5",
        "HS_WORKER_CONCURRENCY": "1",
        "HS_LOG_JSON": "1",
        "HS_WORKER_HEALTH_FILE": str(tmp_path / "worker-alive"),
    }
    log_file = (tmp_path / "worker.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "worker", env=env, cwd=ROOT, stdout=log_file, stderr=log_file
    )
    original = MediaLayout(settings.media_dir).find_original(track_id)
    assert original is not None
    try:
        await wait_until(
            lambda: _running_with_progress(db, queue, job.id, track_id),
            within=90,
            what="the worker process to be mid-transcode",
        )
        # While it works (its slot busy with ffmpeg), it keeps its health file fresh for health checks.
        alive = tmp_path / "worker-alive"
        assert alive.is_file() and time.time() - alive.stat().st_mtime < 15
        proc.send_signal(signal.SIGKILL)
        async with asyncio.timeout(30):
            await proc.wait()
        killed = await queue.jobs.get(job.id)
        assert killed.state == "running" and f":{proc.pid}:" in killed.worker_id
        # Its ffmpeg is gone before anyone takes the job over (killed with its parent, or ended by the
        # broken progress pipe; tests/media/test_ffmpeg.py shows the parent-death signal on its own).
        await wait_until(
            lambda: _no_ffmpeg_mentioning(str(original)),
            within=10,
            what="the killed worker's ffmpeg to be gone",
        )
        # Mid-way indeed: the pipeline's temp dir is there and nothing was published.
        partial = list((settings.media_dir / "hls").glob(f".{track_id}.tmp-*"))
        assert partial
        assert not (settings.media_dir / "hls" / track_id).exists()

        async with running(settings, db, redis) as rescuer:
            # Swept as the rescuer started: nobody holds the killed worker's lock any more.
            assert not any(p.exists() for p in partial)
            track = await settled(db, track_id, within=90)
        record = await queue.jobs.get(job.id)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log_file.close()
        # Should the parent-death signal have failed, end the orphan so that no test leaves one behind.
        for pid in ffmpeg_processes_mentioning(str(original)):
            os.kill(pid, signal.SIGKILL)

    assert track.status == "ready", (tmp_path / "worker.log").read_text()[-2000:]
    assert record.state == "done" and record.attempts >= 2 and record.worker_id == rescuer.worker_id
    assert track.duration_ms is not None and abs(track.duration_ms - 120_000) < 100
    assert_one_set_of_outputs(settings, track_id)


async def test_the_worker_process_publishes_through_socketio_redis(
    settings: Settings, redis: aioredis.Redis
) -> None:
    pubsub = redis.pubsub()
    channel = settings.redis_prefix + SOCKETIO_CHANNEL_SUFFIX
    await pubsub.subscribe(channel)
    publisher = SocketIOPublisher(settings.redis_url, settings.redis_prefix)
    try:
        await publisher.publish(
            "track", {"id": "t1", "status": "ready", "progress": 100, "error": None}, user_id="user7"
        )
        message = None
        async with asyncio.timeout(5):
            while message is None:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
    finally:
        await publisher.close()
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()
    sent = json.loads(message["data"])
    assert sent["method"] == "emit" and sent["event"] == "track" and sent["room"] == "user7"
    assert sent["data"] == [{"id": "t1", "status": "ready", "progress": 100, "error": None}]
    assert sent["namespace"] == "/"


def test_progress_is_throttled_by_time_or_step() -> None:
    now = [0.0]
    throttle = ProgressThrottle(0.5, 5.0, clock=lambda: now[0])
    assert throttle.due(2.0)
    assert not throttle.due(3.0)  # too soon, too small
    assert throttle.due(7.5)  # a 5-point step
    now[0] = 0.6
    assert throttle.due(8.0)  # half a second later


def test_worker_modules_do_not_load_server_or_aiohttp() -> None:
    code = (
        "import sys, transcoder.worker, transcoder.queue, transcoder.jobs, transcoder.tracks\n"
        "import transcoder.publish\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('server', 'aiohttp')))"
    )

    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


async def test_a_new_transcode_keeps_an_uploaded_cover(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path
) -> None:
    """The artist's uploaded cover wins over the one embedded in the file (a retry, a re-transcode)."""
    source = make_audio(tmp_path / "song.flac", "flac", 4, cover=make_jpeg(80, 60, "red"))
    track_id = await save_processing_track(settings, db, source)
    uploaded = make_jpeg(50, 50, "blue")
    layout = MediaLayout(settings.media_dir)
    chosen = tmp_path / "chosen.jpg"
    chosen.write_bytes(uploaded)
    relative = layout.relative(layout.install_cover(track_id, chosen))
    await TrackStore(db).update(track_id, {"cover": relative})
    async with running(settings, db, redis):
        await make_queue(settings, db, redis).enqueue(track_id)
        track = await settled(db, track_id)
    assert track.status == "ready"
    assert track.cover == relative
    assert (settings.media_dir / relative).read_bytes() == uploaded


def _bucket_settings(settings: Settings, endpoint: str) -> Settings:
    return dataclasses.replace(
        settings,
        media_store=f"s3://{S3_BUCKET}/w{uuid.uuid4().hex[:8]}",
        s3_endpoint=endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        job_retry_delay=30.0,
    )


async def test_an_unreachable_bucket_is_retried_and_a_missing_original_fails_at_once(
    settings: Settings, db: Database, redis: aioredis.Redis, tmp_path: Path, s3_endpoint: str
) -> None:
    source = make_audio(tmp_path / "a.mp3", "mp3", 2)
    # Nothing listens on this port: the store cannot be reached, which another attempt may cure.
    down = _bucket_settings(settings, f"http://127.0.0.1:{free_port()}")
    queue = make_queue(down, db, redis)
    async with running(down, db, redis):
        job = await queue.enqueue(await save_processing_track(down, db, source))

        async def retried() -> Job | None:
            record = await queue.jobs.get(job.id)
            return record if record.state == "queued" and record.error else None

        record = await wait_until(retried, what="the attempt against a store that is down to end")
    assert record.attempts == 1 and record.error == "the media store did not answer"
    assert record.next_attempt_at is not None

    # The bucket answers but holds no such original (it was saved on local disk only): no retry.
    up = _bucket_settings(settings, s3_endpoint)
    track_id = await save_processing_track(up, db, source)
    async with running(up, db, redis):
        job = await make_queue(up, db, redis).enqueue(track_id)
        track = await settled(db, track_id)
    assert track.status == "failed" and track.error == "the original is missing from the media store"
    record = await make_queue(up, db, redis).jobs.get(job.id)
    assert record.state == "failed" and record.attempts == 1


HOLDER = """
import sys, time
from pathlib import Path
from transcoder.scratch import ScratchSpace
space = ScratchSpace(Path(sys.argv[1]))
space.claim()
(space.folder / "job-x").mkdir()
print(space.folder, flush=True)
time.sleep(60)
"""


def test_scratch_folders_of_dead_workers_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "jobs"

    def holder() -> tuple[subprocess.Popen[str], Path]:
        command = [sys.executable, "-c", HOLDER, str(root)]
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        return proc, Path(proc.stdout.readline().strip())

    live, live_folder = holder()
    dead, dead_folder = holder()
    try:
        dead.send_signal(signal.SIGKILL)  # no cleanup of its own: only the kernel drops its lock
        dead.wait(10)
        old_layout = root / "job-abc-123"  # a job folder of the layout before worker folders
        old_layout.mkdir()
        os.utime(old_layout, (time.time() - 3600, time.time() - 3600))
        fresh = root / "worker-being-made"  # no lock file yet, but only just created: kept
        fresh.mkdir()

        space = ScratchSpace(root)
        swept = space.claim()
        assert sorted(swept) == sorted([dead_folder, old_layout])
        assert live_folder.is_dir() and (live_folder / "job-x").is_dir() and fresh.is_dir()
        assert not dead_folder.exists() and not old_layout.exists()
        space.release()
        assert not space.folder.exists()
    finally:
        live.kill()
        live.wait(10)
    # Its holder gone, the folder left behind goes at the next start.
    assert live_folder in ScratchSpace(root).claim()
