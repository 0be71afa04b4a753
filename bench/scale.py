"""Benchmark: one box, all cores — ``serve --workers 1`` against ``--workers 2``, and 1 against 2 transcoders.

    .venv/bin/python bench/scale.py [--seconds 8] [--connections 64] [--repeat 3] [--uploads 8]

Setup (a temp dir, removed at the end): a private redis-server (more than one server process needs
Redis), a 60 s FLAC transcoded into the real ladder, and on that data dir ``harmonystream serve
--workers 1`` and ``--workers 2``, plus a private nginx with 1 worker and one with 2 workers serving the
same media files directly. All traffic is on loopback.

1. Segments: ``wrk`` (Debian package, 2 threads, ``--connections`` keep-alive connections, ``--seconds``
   each) cycling over every segment of every rung, ``--repeat`` rounds with the four targets
   interleaved. Requests/s, median and range. Goals: ``--workers 2`` ≥ 1.5x ``--workers 1``, and
   ≥ 0.6x nginx with 2 workers. wrk runs on the same 2 cores, so every figure is a floor.
2. Transcoding: ``--uploads`` distinct 30 s FLAC files uploaded through the API to a server without
   an in-process transcoder, with 1 and then 2 ``harmonystream worker`` processes; uploads→ready per
   minute, from the first upload to the last track ready.

Prints Markdown for docs/PERFORMANCE.md. Every run is bounded in time; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serve import SECRET, cpu_seconds, direct_nginx, make_ladder, nginx_workers, run_wrk, wait_ready
from tests.delivery.nginx import run_nginx
from tests.services import free_port, private_redis

ROOT = Path(__file__).resolve().parents[1]
SERVER_RATIO_GOAL, NGINX_RATIO_GOAL = 1.5, 0.6
PASSWORD = "bench-password-1"


def env_for(data_dir: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HS_")}
    env.update(
        HS_DATA_DIR=str(data_dir), HS_SECRET_KEY=SECRET, HS_REDIS_URL=redis_url, HS_LOG_JSON="true",
        HS_REDIS_PREFIX="bench:",
    )  # fmt: skip
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server", *args], env=env, stdout=out, stderr=out, cwd=ROOT
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"


def segments_part(work: Path, redis_url: str, seconds: int, connections: int, repeat: int) -> None:
    data_dir = work / "data"
    ladder = make_ladder(work, data_dir)
    segments, signed, direct = ladder.segments, ladder.signed_paths, ladder.direct_paths
    env = env_for(data_dir, redis_url)
    ports = {name: free_port() for name in ("w1", "w2", "nginx1", "nginx2")}
    procs = [
        start(["serve", "--port", str(ports["w1"]), "--workers", "1"], env, work / "w1.log"),
        start(["serve", "--port", str(ports["w2"]), "--workers", "2"], env, work / "w2.log"),
    ]

    def nginx(workers: int, port: int):
        return run_nginx(direct_nginx(ladder.layout.root, port, workers=workers))

    try:
        for name in ("w1", "w2"):
            wait_ready(f"http://127.0.0.1:{ports[name]}/healthz", timeout=60)
        time.sleep(2)  # both processes of --workers 2 up (each answers /healthz on its own)
        targets = {
            "w1": (f"http://127.0.0.1:{ports['w1']}", signed),
            "w2": (f"http://127.0.0.1:{ports['w2']}", signed),
            "nginx1": (f"http://127.0.0.1:{ports['nginx1']}", direct),
            "nginx2": (f"http://127.0.0.1:{ports['nginx2']}", direct),
        }
        runs: dict[str, list[dict]] = {name: [] for name in targets}
        with nginx(1, ports["nginx1"]) as prefix1, nginx(2, ports["nginx2"]) as prefix2:
            for name in ("nginx1", "nginx2"):
                wait_ready(f"http://127.0.0.1:{ports[name]}{direct[0]}")
            # The processes that serve each target's requests: their CPU time per request is what
            # the target would need of a core with nothing else on the machine.
            pids = {
                "w1": [procs[0].pid],
                "w2": sorted(children(procs[1].pid)),
                "nginx1": nginx_workers(prefix1),
                "nginx2": nginx_workers(prefix2),
            }
            for _ in range(repeat):
                for name, (base, paths) in targets.items():
                    before = cpu_seconds(pids[name])
                    row = run_wrk(base, paths, seconds, connections, work, threads=2)
                    row["cpu_us"] = (cpu_seconds(pids[name]) - before) / (row["rps"] * seconds) * 1e6
                    runs[name].append(row)
    finally:
        for proc in procs:
            stop(proc)
    rps = {name: [r["rps"] for r in rows] for name, rows in runs.items()}
    errors = {name: sum(r["errors"] for r in rows) for name, rows in runs.items()}
    w2_over_w1 = [b / a for a, b in zip(rps["w1"], rps["w2"], strict=True)]
    w2_over_nginx2 = [b / a for a, b in zip(rps["nginx2"], rps["w2"], strict=True)]
    print(
        f"\n### Segments ({len(segments)} files, {repeat} rounds of {seconds} s, wrk -t2 -c{connections})\n"
    )
    print("| target | processes | req/s, median [range] | CPU µs per request, median | non-2xx |")
    print("|---|---|---|---|---|")
    labels = {
        "w1": "`serve --workers 1`",
        "w2": "`serve --workers 2`",
        "nginx1": "nginx, 1 worker (files directly)",
        "nginx2": "nginx, 2 workers (files directly)",
    }
    for name, label in labels.items():
        cpu = statistics.median(r["cpu_us"] for r in runs[name])
        print(f"| {label} | {len(pids[name])} | {spread(rps[name])} | {cpu:.0f} | {errors[name]:.0f} |")
    print()
    print(
        f"- `--workers 2` / `--workers 1`: median {statistics.median(w2_over_w1):.2f}x "
        f"(rounds {min(w2_over_w1):.2f}-{max(w2_over_w1):.2f}), goal ≥ {SERVER_RATIO_GOAL}x"
    )
    print(
        f"- `--workers 2` / nginx with 2 workers: median {statistics.median(w2_over_nginx2):.2f}x "
        f"(rounds {min(w2_over_nginx2):.2f}-{max(w2_over_nginx2):.2f}), goal ≥ {NGINX_RATIO_GOAL}x"
    )


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (the server processes of ``serve --workers``)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return out


def make_uploads(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(count):
        path = folder / f"take{n}.flac"
        graph = (
            f"sine=frequency={220 + 40 * n}:sample_rate=44100:duration=30[s];"
            f"anoisesrc=color=pink:amplitude=0.2:seed={n}:sample_rate=44100:duration=30[x];"
            "[s][x]amix=inputs=2,aformat=channel_layouts=stereo[out]"
        )
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex", graph, "-map", "[out]",
             "-c:a", "flac", "-metadata", f"title=Take {n}", str(path)],
            check=True, timeout=120,
        )  # fmt: skip
        files.append(path)
    return files


async def upload_all(base: str, files: list[Path], limit_s: float = 900) -> float:
    """Upload ``files`` as an artist and wait until every track is ready: seconds from first byte to last."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/v1/auth/login", json={"username": "benchartist", "password": PASSWORD}
        ) as resp:
            assert resp.status == 200, await resp.text()
            headers = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
        started = time.perf_counter()
        ids = []
        for path in files:
            form = aiohttp.FormData()
            form.add_field("file", path.read_bytes(), filename=path.name, content_type="audio/flac")
            async with session.post(f"{base}/api/v1/tracks", data=form, headers=headers) as resp:
                assert resp.status == 202, await resp.text()
                ids.append((await resp.json())["id"])
        pending = set(ids)
        while pending:
            if time.perf_counter() - started > limit_s:
                raise RuntimeError(f"{len(pending)} tracks not ready after {limit_s:.0f} s")
            for track_id in list(pending):
                async with session.get(f"{base}/api/v1/tracks/{track_id}", headers=headers) as resp:
                    status = (await resp.json())["status"]
                if status == "ready":
                    pending.discard(track_id)
                elif status == "failed":
                    raise RuntimeError(f"track {track_id} failed")
            await asyncio.sleep(0.25)
        return time.perf_counter() - started


def transcoding_part(work: Path, redis_url: str, uploads: int) -> None:
    files = make_uploads(work / "uploads", uploads)
    rows = []
    for workers in (1, 2):
        data_dir = work / f"transcode-{workers}"
        env = {**env_for(data_dir, redis_url), "HS_REDIS_PREFIX": f"bench-t{workers}:"}
        subprocess.run(
            [sys.executable, "-m", "server", "create-user", "benchartist", "--password", PASSWORD,
             "--role", "artist"],
            env=env, check=True, capture_output=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        port = free_port()
        server = start(["serve", "--port", str(port)], env, work / f"t{workers}-serve.log")
        procs = [start(["worker"], env, work / f"t{workers}-worker{n}.log") for n in range(workers)]
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=60)
            seconds = asyncio.run(upload_all(f"http://127.0.0.1:{port}", files))
        finally:
            for proc in [*procs, server]:
                stop(proc)
        rows.append((workers, seconds))
    print(f"\n### Transcoding ({uploads} uploads of 30 s FLAC each)\n")
    print("| transcoder processes | first upload → last ready | uploads→ready per minute |")
    print("|---|---|---|")
    for workers, seconds in rows:
        print(f"| {workers} | {seconds:.1f} s | {uploads / seconds * 60:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--segments-only", action="store_true", help="skip the uploads part")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hs-bench-scale-"))
    try:
        with private_redis() as redis_url:
            segments_part(work, redis_url, args.seconds, args.connections, args.repeat)
            if not args.segments_only:
                transcoding_part(work, redis_url, args.uploads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
