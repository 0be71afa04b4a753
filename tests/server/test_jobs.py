"""Jobs inside ``serve``: the queue and in-process workers wired by the app, the start-up sweep, and
the admin routes ``GET /api/v1/jobs`` and ``POST /api/v1/jobs/{id}/retry``."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from media.layout import MediaLayout
from media.records import Job
from server import keys
from server.app import create_app
from server.catalog.store import TrackStore
from server.handles import open_database
from server.settings import Settings
from tests.audio import make_audio, make_garbage
from tests.helpers import error_code, save_processing_track, signed_in


async def _settled(app: Any, track_id: str, within: float = 60.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while (track := await app[keys.TRACKS].get(track_id)).status == "processing":
        assert asyncio.get_running_loop().time() < deadline, "track still processing"
        await asyncio.sleep(0.05)
    return track.to_doc()


async def _job_state(app: Any, job_id: str, state: str, within: float = 30.0) -> Job:
    deadline = asyncio.get_running_loop().time() + within
    while (job := await app[keys.JOBS].jobs.get(job_id)).state != state:
        assert asyncio.get_running_loop().time() < deadline, f"job never became {state}"
        await asyncio.sleep(0.05)
    return job


async def test_admins_list_failed_jobs_and_retry_them(client: TestClient, tmp_path: Path) -> None:
    app = client.app
    _, admin = await signed_in(client, "admin")
    _, listener = await signed_in(client, "listener")
    track_id = await save_processing_track(
        app[keys.SETTINGS], app[keys.DB], make_garbage(tmp_path / "bad.mp3", "text")
    )
    job = await app[keys.JOBS].enqueue(track_id)
    await _settled(app, track_id)
    await _job_state(app, job.id, "failed")

    resp = await client.get("/api/v1/jobs?state=failed", headers=admin)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 1 and body["items"][0]["id"] == job.id
    listed = body["items"][0]
    assert listed["track_id"] == track_id and listed["attempts"] == 1
    assert "not a recognised audio file" in listed["error"]
    assert (await (await client.get("/api/v1/jobs?state=done", headers=admin)).json())["total"] == 0
    assert (await client.get("/api/v1/jobs?state=bogus", headers=admin)).status == 400
    assert (await client.get("/api/v1/jobs", headers=listener)).status == 403
    assert (await client.get("/api/v1/jobs")).status == 401
    assert (await client.post(f"/api/v1/jobs/{job.id}/retry", headers=listener)).status == 403

    # The artist replaces the file; the admin retries; this time it works.
    original = MediaLayout(app[keys.SETTINGS].media_dir).find_original(track_id)
    assert original is not None
    shutil.copyfile(make_audio(tmp_path / "good.mp3", "mp3", 2), original)
    resp = await client.post(f"/api/v1/jobs/{job.id}/retry", headers=admin)
    assert resp.status == 202, await resp.text()
    retried = await resp.json()
    assert retried["id"] == job.id and retried["attempts"] == 0 and retried["error"] is None
    track = await _settled(app, track_id)
    assert track["status"] == "ready" and track["error"] is None
    done = await _job_state(app, job.id, "done")
    assert done.attempts == 1

    resp = await client.get(f"/api/v1/jobs/{job.id}", headers=admin)
    assert resp.status == 200 and (await resp.json())["state"] == "done"
    resp = await client.post(f"/api/v1/jobs/{job.id}/retry", headers=admin)
    assert resp.status == 409 and error_code(await resp.json()) == "job_not_failed"
    resp = await client.post("/api/v1/jobs/nope/retry", headers=admin)
    assert resp.status == 404 and error_code(await resp.json()) == "not_found"


async def test_start_requeues_tracks_left_processing(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    # A track saved as processing whose job never made it to the queue (the server died in between).
    async with open_database(settings) as db:
        track_id = await save_processing_track(settings, db, make_audio(tmp_path / "a.ogg", "ogg", 2))
    client = await aiohttp_client(create_app(settings))
    track = await _settled(client.app, track_id)
    assert track["status"] == "ready"
    jobs, total = await client.app[keys.JOBS].jobs.list(track_id=track_id)
    assert total == 1
    # The worker marks the track ready, then closes its job: wait for the second write too.
    await _job_state(client.app, jobs[0].id, "done")


async def test_embedded_redis_transcodes_in_process(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    embedded = dataclasses.replace(settings, redis_url="", inprocess_worker=False)
    assert embedded.runs_inprocess_worker
    client = await aiohttp_client(create_app(embedded))
    app = client.app
    assert app.get(keys.WORKER) is not None
    ids = [
        await save_processing_track(embedded, app[keys.DB], make_audio(tmp_path / f"{i}.wav", "wav", 2))
        for i in range(3)
    ]
    for track_id in ids:
        await app[keys.JOBS].enqueue(track_id)
    for track_id in ids:
        assert (await _settled(app, track_id))["status"] == "ready"


async def test_with_external_redis_serve_leaves_transcoding_to_workers(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    external = dataclasses.replace(settings, inprocess_worker=False)
    client = await aiohttp_client(create_app(external))
    app = client.app
    assert app.get(keys.WORKER) is None
    track_id = await save_processing_track(external, app[keys.DB], make_audio(tmp_path / "a.wav", "wav", 1))
    job = await app[keys.JOBS].enqueue(track_id)
    await asyncio.sleep(1.0)
    assert (await app[keys.JOBS].jobs.get(job.id)).state == "queued"
    assert (await TrackStore(app[keys.DB]).get(track_id)).status == "processing"
