"""Many processes, one library: 2 ``serve`` and 2 ``worker`` processes, each with a data folder of its
own, sharing one Redis, one MongoDB-protocol server (a private nx-27017, or ``HS_TEST_MONGO_URL``) and
one S3-compatible bucket for the media (moto's server mode), as separate machines would run them.

What one process causes, the others see: an upload through server A is transcoded by a worker and plays
through server B; a playback command on A reaches a Socket.IO client of B; search on B finds the new
track within ``HS_SEARCH_REFRESH_SECONDS``; login limits and sign-outs hold across both servers. And
SIGKILL of the worker holding a job, or of a server, loses no job and no data: the survivors go on.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest

from server.settings import PROJECT_ROOT
from tests.audio import make_audio
from tests.helpers import decoded_seconds
from tests.processes import cli_env, create_user, wait_answering
from tests.realtime.sockets import Device
from tests.services import S3_BUCKET, free_port, s3_media_store
from tests.topology.gate import Gate

REFRESH_S = 1.0
PASSWORD = "correct-horse-9"


class Cluster:
    """The processes of one test and what it needs to reach them."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.servers: dict[str, tuple[str, asyncio.subprocess.Process]] = {}
        self.workers: list[asyncio.subprocess.Process] = []

    async def start_server(self, name: str) -> str:
        port = free_port()
        proc = await self._spawn(name, "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            await wait_answering(session, base, proc)
        self.servers[name] = (base, proc)
        return base

    async def start_worker(self, name: str, **env: str) -> asyncio.subprocess.Process:
        proc = await self._spawn(name, "worker", **env)
        self.workers.append(proc)
        return proc

    async def _spawn(self, name: str, *args: str, **extra: str) -> asyncio.subprocess.Process:
        log = (self.logs / f"{name}.log").open("ab")
        # A data folder of its own, as on another machine: only the bucket holds media.
        env = {**self.env, "HS_DATA_DIR": str(self.logs.parent / f"data-{name}"), **extra}
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", *args, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log
        )

    async def stop(self) -> None:
        procs = [p for _, p in self.servers.values()] + self.workers
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout=30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str, mongo_url: str, s3_endpoint: str) -> AsyncIterator[Cluster]:
    env = cli_env(
        tmp_path / "data",
        HS_MEDIA_STORE=f"s3://{S3_BUCKET}/topology-{uuid.uuid4().hex[:8]}",
        HS_S3_ENDPOINT=s3_endpoint,
        HS_S3_ACCESS_KEY_ID="test",
        HS_S3_SECRET_ACCESS_KEY="test",
        HS_REDIS_URL=redis_url,
        HS_REDIS_PREFIX=f"hstest:{uuid.uuid4().hex[:12]}:",
        HS_MONGO_URL=mongo_url,
        HS_MONGO_DB=f"hs_topology_{uuid.uuid4().hex[:12]}",
        HS_SECRET_KEY="topology-" + uuid.uuid4().hex,
        HS_SEARCH_REFRESH_SECONDS=str(REFRESH_S),
        HS_JOB_CLAIM_TIMEOUT="3",
        HS_JOB_RETRY_DELAY="0.2",
        HS_JOB_POLL_INTERVAL="0.5",
        HS_RATE_LOGIN_PER_USERNAME="4/60",
        HS_LOG_LEVEL="warning",
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    for username, role in (("arti", "artist"), ("lis", "listener"), ("adm", "admin")):
        await create_user(env, username, PASSWORD, role)
    found = Cluster(env, logs)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(found.stop)
        await found.start_server("a")
        await found.start_server("b")
        await found.start_worker("w1")
        await found.start_worker("w2")
        yield found
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(mongo_url)
    await client.drop_database(env["HS_MONGO_DB"])  # only the database this test made
    await client.close()


async def sign_in(http: aiohttp.ClientSession, base: str, username: str) -> dict[str, str]:
    async with http.post(f"{base}/api/v1/auth/login", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['access_token']}"}


async def upload(http: aiohttp.ClientSession, base: str, headers: dict[str, str], path: Path) -> str:
    form = aiohttp.FormData()
    data = await asyncio.to_thread(path.read_bytes)
    form.add_field("file", data, filename=path.name, content_type="application/octet-stream")
    async with http.post(f"{base}/api/v1/tracks", data=form, headers=headers) as resp:
        assert resp.status == 202, await resp.text()
        return (await resp.json())["id"]


async def until_ready(http: aiohttp.ClientSession, base: str, headers: dict[str, str], track_id: str) -> None:
    for _ in range(1200):
        async with http.get(f"{base}/api/v1/tracks/{track_id}", headers=headers) as resp:
            status = (await resp.json())["status"]
        assert status != "failed"
        if status == "ready":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"track {track_id} not ready in 120 s")


def media_files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.glob("data-*/media/**/*") if p.is_file()]


async def test_what_one_process_causes_the_others_see(cluster: Cluster, tmp_path: Path):
    a, b = cluster.servers["a"][0], cluster.servers["b"][0]
    song = make_audio(
        tmp_path / "crossing.mp3", "mp3", 3.0, tags={"title": "Harbour Crossing", "artist": "Ferry"}
    )
    async with aiohttp.ClientSession() as http:
        artist_on_a = await sign_in(http, a, "arti")
        listener_on_b = await sign_in(http, b, "lis")

        # An upload through A is transcoded by a worker and plays through B.
        track_id = await upload(http, a, artist_on_a, song)
        await until_ready(http, b, artist_on_a, track_id)  # a sign-in through A holds on B
        async with http.get(f"{b}/api/v1/tracks/{track_id}/media", headers=listener_on_b) as resp:
            urls = await resp.json()
        assert urls["hls_url"].startswith(b)
        assert abs(await decoded_seconds(urls["hls_url"]) - 3.0) < 0.3
        # No process keeps the media: it is all in the bucket.
        assert not await asyncio.to_thread(media_files, tmp_path)

        # Search on B finds it within the refresh period (its index learns of it from the store).
        found: list[str] = []
        for _ in range(int(REFRESH_S * 2 / 0.1) + 10):
            async with http.get(f"{b}/api/v1/search", params={"q": "harbour"}, headers=listener_on_b) as r:
                found = [t["id"] for t in (await r.json())["tracks"]["items"]]
            if found:
                break
            await asyncio.sleep(0.1)
        assert found == [track_id]

        # A playback command through A reaches the listener's Socket.IO client on B.
        device = Device()
        await device.connect(b, token=listener_on_b["Authorization"].split()[1], device_id="phone")
        try:
            async with http.post(
                f"{a}/api/v1/playback/play",
                json={"track_id": track_id, "device_id": "web"},
                headers={"Authorization": listener_on_b["Authorization"]},
            ) as resp:
                assert resp.status == 200
            state = await device.next("playback")
            assert state["track_id"] == track_id and state["device_id"] == "web"
        finally:
            await device.close()

        # Login limits count failures on both servers together (4 per username here).
        for base in (a, b, a, b):
            async with http.post(
                f"{base}/api/v1/auth/login", json={"username": "adm", "password": "wrong"}
            ) as r:
                assert r.status == 401
        for base in (a, b):
            async with http.post(
                f"{base}/api/v1/auth/login", json={"username": "adm", "password": "wrong"}
            ) as r:
                assert r.status == 429

        # Signing out through B ends the sign-in on A at once.
        async with http.get(f"{a}/api/v1/me", headers=artist_on_a) as resp:
            assert resp.status == 200
        async with http.post(f"{b}/api/v1/auth/logout", headers=artist_on_a) as resp:
            assert resp.status == 204
        async with http.get(f"{a}/api/v1/me", headers=artist_on_a) as resp:
            assert resp.status == 401


async def test_killed_workers_and_servers_lose_nothing(cluster: Cluster, tmp_path: Path):
    a, b = cluster.servers["a"][0], cluster.servers["b"][0]
    long_take = make_audio(tmp_path / "long.flac", "flac", 150.0, tags={"title": "Long Take"})
    async with aiohttp.ClientSession() as http:
        artist = await sign_in(http, a, "arti")
        admin = await sign_in(http, b, "adm")
        track_id = await upload(http, a, artist, long_take)
        # The worker that holds the job, by the pid in its worker id (host:pid:random).
        holder = None
        for _ in range(300):
            async with http.get(f"{b}/api/v1/jobs", params={"track_id": track_id}, headers=admin) as resp:
                jobs = (await resp.json())["items"]
            if jobs and jobs[0]["state"] == "running" and jobs[0]["worker_id"]:
                holder = int(jobs[0]["worker_id"].split(":")[1])
                break
            await asyncio.sleep(0.05)
        assert holder in {w.pid for w in cluster.workers}, "no worker took the job"
        os.kill(holder, signal.SIGKILL)
        # The other worker takes the job over once the claim times out, and finishes it.
        await until_ready(http, b, artist, track_id)
        async with http.get(f"{b}/api/v1/jobs", params={"track_id": track_id}, headers=admin) as resp:
            (job,) = (await resp.json())["items"]
        assert job["state"] == "done" and job["attempts"] == 2

        # A server killed mid-flight: the other serves on, with everything written through the first.
        os.kill(cluster.servers["a"][1].pid, signal.SIGKILL)
        async with http.get(f"{b}/api/v1/tracks/{track_id}", headers=artist) as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "ready"
        async with http.get(f"{b}/api/v1/tracks/{track_id}/media", headers=artist) as resp:
            hls_url = (await resp.json())["hls_url"]
        assert abs(await decoded_seconds(hls_url) - 150.0) < 0.5


async def test_a_frozen_worker_never_publishes_over_the_one_that_took_over(
    cluster: Cluster, tmp_path: Path, s3_endpoint: str
):
    """The worker holding a job is frozen (SIGSTOP) as it puts the master playlist - its rung files
    uploaded, its claim checked a moment before - until the other worker takes the job over and
    publishes; then it goes on (SIGCONT). It must not switch the master: the track plays through the
    other server, the bucket holds one version of its ladder, and the job ends with one success.
    (Unfenced, the thawed worker pointed the master at its own version, which the other had removed.)"""
    for proc in cluster.workers:  # workers of this test's own, each reaching the bucket through a gate
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    upstream = int(s3_endpoint.rsplit(":", 1)[1])
    # Held at the put of the master: every rung file is up, the claim was checked just before.
    gates = [Gate(upstream, re.compile(rb"PUT /[^ ]*/hls/[^ ]*/master\.m3u8")) for _ in range(2)]
    workers = {}
    for n, gate in enumerate(gates):
        proc = await cluster.start_worker(f"gated{n}", HS_S3_ENDPOINT=await gate.start())
        workers[proc.pid] = (gate, proc, cluster.logs / f"gated{n}.log")
    b = cluster.servers["b"][0]
    song = make_audio(tmp_path / "frozen.flac", "flac", 8.0, tags={"title": "Cold Spell"})
    try:
        async with aiohttp.ClientSession() as http:
            artist = await sign_in(http, b, "arti")
            admin = await sign_in(http, b, "adm")
            track_id = await upload(http, cluster.servers["a"][0], artist, song)
            waits = {asyncio.create_task(g.held.wait()): pid for pid, (g, _, _) in workers.items()}
            done, pending = await asyncio.wait(waits, timeout=120, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            assert done, "no worker published"
            holder = waits[done.pop()]
            os.kill(holder, signal.SIGSTOP)
            for pid, (gate, _, _) in workers.items():
                if pid != holder:
                    gate.disarm()
            try:
                await until_ready(http, b, artist, track_id)  # the other worker took over and published
            finally:
                os.kill(holder, signal.SIGCONT)
                workers[holder][0].release()
            # The thawed worker ends its attempt: it finds the master switched by the newer claim and
            # gives up (job_taken_over). On a machine so loaded that its held put timed out meanwhile,
            # it gives up on the failed put instead (job_retry, refused: the job is not its own).
            log = workers[holder][2]
            for _ in range(900):
                said = await asyncio.to_thread(log.read_text, errors="replace")
                if "job_taken_over" in said or "job_retry" in said:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the thawed worker never ended its attempt")

            async with http.get(f"{b}/api/v1/jobs", params={"track_id": track_id}, headers=admin) as resp:
                (job,) = (await resp.json())["items"]
            assert job["state"] == "done" and job["attempts"] == 2
            assert int(job["worker_id"].split(":")[1]) != holder
            bucket = s3_media_store(s3_endpoint, cluster.env["HS_MEDIA_STORE"].split("/", 3)[3])
            keys = await bucket.keys(f"hls/{track_id}/")
            versions = {k.split("/")[2] for k in keys if not k.endswith("/master.m3u8")}
            assert len(versions) == 1, versions
            async with http.get(f"{b}/api/v1/tracks/{track_id}/media", headers=artist) as resp:
                hls_url = (await resp.json())["hls_url"]
            assert abs(await decoded_seconds(hls_url) - 8.0) < 0.3
    finally:
        for gate in gates:
            await gate.close()
