"""Server RSS while a 200 MB file uploads (goal: + < 30 MB), and the upload's throughput.

    python bench/upload.py [--mb 200]

Starts ``harmonystream serve`` (embedded store and Redis, in a temp data dir, loopback only), creates an
artist with ``create-user``, signs in, and streams a generated WAV of ``--mb`` megabytes (silence-free
noise, so nothing compresses it away) as multipart/form-data. The server's VmRSS is sampled from
/proc every 20 ms before and during the upload; the figure is the peak during the upload minus the
settled RSS before it. The server is stopped right after the 202 (the in-process transcoder would
otherwise start on 20 minutes of audio).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.services import free_port

GOAL_MB = 30.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def make_wav(path: Path, megabytes: int) -> None:
    seconds = megabytes * 1024 * 1024 / (44_100 * 4)
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=color=pink:amplitude=0.3:sample_rate=44100:duration={seconds:.1f}",
            "-ac",
            "2",
            "-c:a",
            "pcm_s16le",
            "-rf64",
            "never",
            str(path),
        ],
        check=True,
        timeout=300,
    )


async def run(megabytes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hs-bench-upload-") as tmp:
        data_dir = Path(tmp) / "data"
        wav = Path(tmp) / "big.wav"
        make_wav(wav, megabytes)
        env = {
            **os.environ,
            "HS_DATA_DIR": str(data_dir),
            "HS_LOG_LEVEL": "warning",
            "HS_MAX_UPLOAD_MB": str(megabytes + 50),
        }
        for name in ("HS_MONGO_URL", "HS_REDIS_URL"):
            env.pop(name, None)
        cli = [sys.executable, "-m", "server"]
        await asyncio.to_thread(
            subprocess.run,
            [*cli, "create-user", "bench", "--password", "bench-password-1", "--role", "artist"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = free_port()
        server = await asyncio.to_thread(
            subprocess.Popen,
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(200):
                    try:
                        async with session.get(f"{base}/healthz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                async with session.post(
                    f"{base}/api/v1/auth/login", json={"username": "bench", "password": "bench-password-1"}
                ) as resp:
                    token = (await resp.json())["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                # Warm the upload path (imports, first ffprobe) with a small file, then let RSS settle.
                small = Path(tmp) / "small.wav"
                make_wav(small, 1)
                await upload(session, base, headers, small)
                await asyncio.sleep(1.0)
                baseline = rss_mb(server.pid)
                peak = baseline
                done = asyncio.Event()

                async def sample() -> None:
                    nonlocal peak
                    while not done.is_set():
                        peak = max(peak, rss_mb(server.pid))
                        await asyncio.sleep(0.02)

                sampler = asyncio.create_task(sample())
                started = time.perf_counter()
                status, body = await upload(session, base, headers, wav)
                elapsed = time.perf_counter() - started
                done.set()
                await sampler
        finally:
            server.terminate()
            server.wait(timeout=30)
        size_mb = wav.stat().st_size / 1024 / 1024
        assert status == 202, body
        print(
            f"upload: {size_mb:.0f} MB WAV in {elapsed:.2f} s = {size_mb / elapsed:.0f} MB/s (202, "
            f"{body['duration_ms'] / 60000:.1f} min of audio)"
        )
        delta = peak - baseline
        verdict = "meets" if delta < GOAL_MB else "misses"
        print(
            f"server RSS: {baseline:.1f} MB before, {peak:.1f} MB peak during the upload: "
            f"+{delta:.1f} MB ({verdict} the goal of + < {GOAL_MB:.0f} MB)"
        )


async def upload(session: aiohttp.ClientSession, base: str, headers: dict, path: Path) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("title", "Bench upload")
    with path.open("rb") as fh:
        form.add_field("file", fh, filename=path.name, content_type="audio/wav")
        async with session.post(f"{base}/api/v1/tracks", data=form, headers=headers) as resp:
            return resp.status, json.loads(await resp.text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    asyncio.run(run(min(parser.parse_args().mb, 1024)))
