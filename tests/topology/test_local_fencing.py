"""Fenced publishing on local media: one machine, one data folder, a ``serve`` and two ``worker``
processes sharing it (the embedded store, the media folder) and a real Redis.

A local ladder is swapped in under the ``flock`` of its published directory. The test holds that lock
itself, so the worker holding the job stops exactly at its publish - transcoded, its generation
written, waiting for the lock - and freezes it there (SIGSTOP). The other worker takes the job over and
publishes; the frozen one, let go (SIGCONT), must not swap its older ladder over the newer one.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sys
import uuid
from pathlib import Path

import aiohttp

from media.fencing import GENERATION_FILE
from tests.audio import make_audio
from tests.helpers import decoded_seconds
from tests.processes import cli_env, create_user, wait_answering
from tests.services import free_port
from tests.topology.test_many_processes import PASSWORD, sign_in, until_ready, upload

SECONDS = 20.0


async def test_a_frozen_worker_never_swaps_an_older_local_ladder_in(tmp_path: Path, redis_url: str):
    data = tmp_path / "data"
    env = cli_env(
        data,
        HS_REDIS_URL=redis_url,
        HS_REDIS_PREFIX=f"hstest:{uuid.uuid4().hex[:12]}:",
        HS_SECRET_KEY="fence-" + uuid.uuid4().hex,
        HS_JOB_CLAIM_TIMEOUT="3",
        HS_JOB_RETRY_DELAY="0.2",
        HS_JOB_POLL_INTERVAL="0.5",
        HS_LOG_LEVEL="warning",
    )
    for username, role in (("arti", "artist"), ("adm", "admin")):
        await create_user(env, username, PASSWORD, role)
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs: dict[str, asyncio.subprocess.Process] = {}

    async def spawn(name: str, *args: str) -> asyncio.subprocess.Process:
        log = (logs / f"{name}.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", *args, env=env, stdout=log, stderr=log
        )
        procs[name] = proc
        return proc

    song = make_audio(tmp_path / "slow.flac", "flac", SECONDS, tags={"title": "Local Frost"})
    held: int | None = None
    frozen: int | None = None
    try:
        server = await spawn("serve", "serve", "--port", str(port))
        async with aiohttp.ClientSession() as http:
            await wait_answering(http, base, server)
            for name in ("w1", "w2"):
                await spawn(name, "worker")
            artist = await sign_in(http, base, "arti")
            admin = await sign_in(http, base, "adm")
            track_id = await upload(http, base, artist, song)
            # Hold the ladder's lock before either worker is done transcoding (that takes seconds).
            ladder = data / "media" / "hls" / track_id
            ladder.mkdir(parents=True, exist_ok=True)
            held = os.open(ladder, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(held, fcntl.LOCK_EX)
            # The holder waits at the lock once its temp ladder carries its generation.
            for _ in range(1200):
                waiting = [
                    p for p in ladder.parent.glob(f".{track_id}.tmp-*") if (p / GENERATION_FILE).exists()
                ]
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting, "no worker reached its publish"
            async with http.get(f"{base}/api/v1/jobs", params={"track_id": track_id}, headers=admin) as resp:
                (job,) = (await resp.json())["items"]
            frozen = int(job["worker_id"].split(":")[1])
            os.kill(frozen, signal.SIGSTOP)
            os.close(held)  # the lock is free; the frozen worker cannot take it
            held = None

            await until_ready(http, base, artist, track_id)  # the other worker took over and published
            newer = (ladder / GENERATION_FILE).read_text()
            os.kill(frozen, signal.SIGCONT)
            frozen_name = next(n for n, p in procs.items() if p.pid == int(job["worker_id"].split(":")[1]))
            log = logs / f"{frozen_name}.log"
            for _ in range(900):
                if "job_taken_over" in await asyncio.to_thread(log.read_text, errors="replace"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the thawed worker never noticed the take-over")
            frozen = None

            # The newer ladder stayed; the older one's temp directory goes (its worker removes it as
            # its attempt ends, just after saying so); the job ended once, done.
            assert (ladder / GENERATION_FILE).read_text() == newer
            for _ in range(300):
                left = [p for p in ladder.parent.iterdir() if p.name.startswith(f".{track_id}.")]
                if not left:
                    break
                await asyncio.sleep(0.1)
            assert not left
            assert (ladder / GENERATION_FILE).read_text() == newer
            async with http.get(f"{base}/api/v1/jobs", params={"track_id": track_id}, headers=admin) as resp:
                (job,) = (await resp.json())["items"]
            assert job["state"] == "done" and job["attempts"] == 2
            async with http.get(f"{base}/api/v1/tracks/{track_id}/media", headers=artist) as resp:
                hls_url = (await resp.json())["hls_url"]
            assert abs(await decoded_seconds(hls_url) - SECONDS) < 0.5
    finally:
        if held is not None:
            os.close(held)
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        for proc in procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
