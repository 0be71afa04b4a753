"""Benchmark: serving HLS segments — one server process vs nginx, and 10,000 simulated listeners.

    python bench/serve.py [--seconds 8] [--connections 32] [--listeners 10000] [--repeat 3]

Setup (in a temp dir, removed at the end): a 60 s FLAC, transcoded by ``transcoder.pipeline`` into
the real ladder; two ``harmonystream serve`` processes on that data dir (one plain, answering
segments through its segment lane; one with ``HS_ACCEL_REDIRECT``, where every request takes the full
aiohttp path), each with its normal middleware and JSON request log (to a file), started like
production (``serve``, with its GC tuning); a private nginx with 1 worker serving the media dir
directly; nginx from ``deploy/nginx.conf`` (1 worker) in front of the accel server — HLS offload
(``auth_request``, cached) as shipped; and the same config with the HLS location disabled, so HLS
goes through the server and X-Accel-Redirect. All traffic is on loopback.

1. ``wrk`` (Debian package) with 1 thread and ``--connections`` keep-alive connections, for
   ``--seconds`` each, cycling over every segment of every rung, ``--repeat`` rounds (targets
   interleaved): through signed URLs to the server, to nginx direct, through nginx with the HLS
   offload, and through nginx with X-Accel-Redirect. Requests/s and p50/p99 latency, median and range.
   Goals: server >= 0.50x nginx direct; nginx with offload >= 0.90x nginx direct.
2. ``--listeners`` keep-alive connections, opened over 6 s, each fetching the next 128k segment every
   6 s (+-10 % jitter) for ~12 s more: against the server, against nginx with the offload, and against
   nginx direct (a control for what the single-process Python simulator adds). p50/p99/max of time to
   the last body byte, and errors. Goal: p99 <= 100 ms, no errors.

The machine running it also runs wrk and the listener simulator, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.layout import MediaLayout
from server.delivery.signing import MediaSigner
from tests.delivery.nginx import TYPES, deploy_config, main_block, run_nginx
from tests.services import free_port
from transcoder.pipeline import transcode

TRACK_ID = "benchtrack0001"
SECRET = "bench-secret-key-" + "x" * 32
SERVER_GOAL, ACCEL_GOAL = 0.50, 0.90
LISTENER_P99_GOAL_MS = 100.0

WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


@dataclass(frozen=True, slots=True)
class BenchLadder:
    """A 60 s track transcoded into the real ladder, and the URL paths of its segments."""

    layout: MediaLayout
    segments: list[str]
    """Relative to the track's HLS folder (``128k/seg_00003.m4s``)."""
    signed_paths: list[str]
    """Through the server, signed for a bench user."""
    direct_paths: list[str]
    """Through :func:`direct_nginx`."""


def make_ladder(work: Path, data_dir: Path) -> BenchLadder:
    """Transcode a generated 60 s FLAC into the ladder under ``data_dir``'s media folder."""
    layout = MediaLayout(data_dir / "media")
    layout.ensure_dirs()
    source = work / "source.flac"
    make_source(source, 60)
    asyncio.run(transcode(source, layout.hls_dir(TRACK_ID)))
    segments = sorted(
        p.relative_to(layout.hls_dir(TRACK_ID)).as_posix()
        for p in layout.hls_dir(TRACK_ID).glob("*/seg_*.m4s")
    )
    token = MediaSigner(SECRET, 3 * 3600).sign(TRACK_ID, "benchuser").token
    return BenchLadder(
        layout,
        segments,
        [f"/hls/{token}/{TRACK_ID}/{s}" for s in segments],
        [f"/direct/hls/{TRACK_ID}/{s}" for s in segments],
    )


def direct_nginx(media_root: Path, port: int, *, workers: int) -> Callable[[Path], str]:
    """The config of an nginx serving ``media_root`` directly at ``/direct/`` (for ``run_nginx``).

    The same file-descriptor cache as deploy/nginx.conf, so comparisons isolate what the server adds.
    """
    conf = (
        f"{TYPES}\n    sendfile on;\n    tcp_nopush on;\n    keepalive_requests 100000;\n"
        "    open_file_cache max=20000 inactive=60s;\n    open_file_cache_valid 10s;\n"
        f"    server {{\n        listen 127.0.0.1:{port};\n"
        f"        location /direct/ {{ alias {media_root}/; }}\n    }}\n"
    )

    def config(prefix: Path) -> str:
        (prefix / "http.conf").write_text(conf)
        return main_block(prefix, workers=workers)

    return config


def make_source(path: Path, seconds: int) -> None:
    graph = (
        f"sine=frequency=330:sample_rate=44100:duration={seconds}[s];"
        f"anoisesrc=color=pink:amplitude=0.2:seed=3:sample_rate=44100:duration={seconds}[n];"
        "[s][n]amix=inputs=2,aformat=channel_layouts=stereo[out]"
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex", graph, "-map", "[out]", "-c:a", "flac",
         str(path)],
        check=True,
        timeout=300,
    )  # fmt: skip


def start_server(data_dir: Path, port: int, log: Path, accel: str = "") -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HS_DATA_DIR": str(data_dir),
        "HS_SECRET_KEY": SECRET,
        "HS_PORT": str(port),
        "HS_LOG_JSON": "true",
        "HS_ACCEL_REDIRECT": accel,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
            cwd=Path(__file__).resolve().parents[1],
        )


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.2)


def run_wrk(
    base: str, paths: list[str], seconds: int, connections: int, workdir: Path, *, threads: int = 1
) -> dict[str, Any]:
    script = workdir / "paths.lua"
    script.write_text(WRK_SCRIPT % ",".join(f'"{p}"' for p in paths))
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            base + paths[0],
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": float(errors.group(1)) if errors else 0.0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time so far of ``pids`` (from /proc): what serving cost, whatever else runs."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def nginx_workers(prefix: Path) -> list[int]:
    """The worker processes of the nginx whose master wrote ``prefix``/nginx.pid."""
    pid_file = prefix / "nginx.pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    master = pid_file.read_text().strip()
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Not the cache manager and loader (deploy/nginx.conf's auth cache): they serve nothing.
        if fields[1] == master and b"worker" in (stat.parent / "cmdline").read_bytes():
            workers.append(int(stat.parent.name))
    return workers


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


# --- listeners ------------------------------------------------------------------------------------


async def listener(
    port: int,
    paths: list[str],
    start: float,
    until: float,
    period: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        errors.append(f"connect: {exc}")
        return
    index = random.randrange(len(paths))
    try:
        next_at = time.monotonic()
        while next_at < until:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            sent = time.monotonic()
            writer.write(f"GET {paths[index % len(paths)]} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append((time.monotonic() - sent) * 1000)
            if status != 200:
                errors.append(f"status {status}")
            index += 1
            next_at = sent + period * random.uniform(0.9, 1.1)
    except (OSError, asyncio.IncompleteReadError, ValueError, AttributeError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def simulate_listeners(
    port: int, paths: list[str], count: int, ramp: float, run: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    now = time.monotonic()
    until = now + ramp + run
    tasks = [
        asyncio.create_task(listener(port, paths, now + ramp * i / count, until, 6.0, latencies, errors))
        for i in range(count)
    ]
    await asyncio.gather(*tasks)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "p50": q[49],
        "p99": q[98],
        "max": latencies[-1] if latencies else 0.0,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


# --- main -----------------------------------------------------------------------------------------


def spread(values: list[float], digits: int = 0) -> str:
    """``median [min-max]`` of a few runs."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--listeners", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of wrk runs and listener crowds")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hs-bench-serve-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data_dir = work / "data"
        ladder = make_ladder(work, data_dir)
        layout, segments = ladder.layout, ladder.segments
        signed_paths, direct_paths = ladder.signed_paths, ladder.direct_paths
        sizes = [(layout.hls_dir(TRACK_ID) / s).stat().st_size for s in segments]

        port_plain, port_accel, port_direct, port_offload, port_xaccel = (free_port() for _ in range(5))
        procs.append(start_server(data_dir, port_plain, work / "server-plain.log"))
        procs.append(start_server(data_dir, port_accel, work / "server-accel.log", accel="/internal-media"))
        wait_ready(f"http://127.0.0.1:{port_plain}/healthz")
        wait_ready(f"http://127.0.0.1:{port_accel}/healthz")

        direct = direct_nginx(layout.root, port_direct, workers=1)

        def offload(prefix: Path) -> str:
            return deploy_config(prefix, app_port=port_accel, listen_port=port_offload, media_dir=layout.root)

        def xaccel(prefix: Path) -> str:
            return deploy_config(
                prefix, app_port=port_accel, listen_port=port_xaccel, media_dir=layout.root, hls_offload=False
            )

        targets = {
            "server": (f"http://127.0.0.1:{port_plain}", signed_paths),
            "nginx": (f"http://127.0.0.1:{port_direct}", direct_paths),
            "offload": (f"http://127.0.0.1:{port_offload}", signed_paths),
            "xaccel": (f"http://127.0.0.1:{port_xaccel}", signed_paths),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        crowds: dict[str, list[dict[str, Any]]] = {"server": [], "offload": [], "nginx": []}
        with run_nginx(direct) as p_direct, run_nginx(offload) as p_offload, run_nginx(xaccel) as p_xaccel:
            for base, paths in targets.values():
                wait_ready(base + paths[0])
                run_wrk(base, paths, 2, args.connections, work)  # warm-up: page cache, lazy imports
            # The processes each target's requests cost CPU in (the accel server serves both nginx fronts).
            serving = {
                "server": [procs[0].pid],
                "nginx": nginx_workers(p_direct),
                "offload": [*nginx_workers(p_offload), procs[1].pid],
                "xaccel": [*nginx_workers(p_xaccel), procs[1].pid],
            }
            for _ in range(args.repeat):
                for name, (base, paths) in targets.items():
                    before = cpu_seconds(serving[name])
                    row = run_wrk(base, paths, args.seconds, args.connections, work)
                    requests = row["rps"] * args.seconds
                    row["cpu_us"] = (cpu_seconds(serving[name]) - before) / requests * 1e6
                    runs[name].append(row)
            for _ in range(args.repeat):
                for name, port, paths in (
                    ("server", port_plain, signed_paths),
                    ("offload", port_offload, signed_paths),
                    ("nginx", port_direct, direct_paths),
                ):
                    crowd_paths = [p for p in paths if "/128k/" in p]
                    crowds[name].append(
                        asyncio.run(simulate_listeners(port, crowd_paths, args.listeners, ramp=6.0, run=12.0))
                    )

        print(f"\nsegments: {len(segments)} files, {min(sizes)}-{max(sizes)} bytes; "
              f"wrk -t1 -c{args.connections} -d{args.seconds}s, {args.repeat} rounds: median [min-max]; "
              f"{os.cpu_count()} CPUs shared by everything\n")  # fmt: skip
        print("| target | req/s | p50 ms | p99 ms | non-2xx | ratio to nginx direct | goal | CPU µs/req | "
              "capacity ratio |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
        nginx_rps = [row["rps"] for row in runs["nginx"]]
        nginx_cpu = [row["cpu_us"] for row in runs["nginx"]]
        for name, label, goal in (
            ("server", "server, signed URLs (1 process)", f">= {SERVER_GOAL:.2f}x"),
            ("nginx", "nginx direct (1 worker)", "-"),
            ("offload", "nginx + HLS offload (auth_request, cached) -> server", f">= {ACCEL_GOAL:.2f}x"),
            ("xaccel", "nginx + X-Accel-Redirect -> server", "-"),
        ):
            rows = runs[name]
            # Each round's ratio uses that round's nginx figure: the machine's load drifts between rounds.
            ratios = [row["rps"] / base for row, base in zip(rows, nginx_rps, strict=True)]
            # CPU per request of the serving processes: what one core could do, whatever else ran.
            capacity = [cpu / row["cpu_us"] for row, cpu in zip(rows, nginx_cpu, strict=True)]
            print(f"| {label} | {spread([r['rps'] for r in rows])} | {spread([r['p50'] for r in rows], 2)} | "
                  f"{spread([r['p99'] for r in rows], 2)} | {sum(r['errors'] for r in rows):.0f} | "
                  f"{spread(ratios, 2)}x | {goal} | {spread([r['cpu_us'] for r in rows])} | "
                  f"{spread(capacity, 2)}x |")  # fmt: skip
        sockets = (f"{name} {', '.join(r['socket_errors'] for r in rows)}" for name, rows in runs.items())
        print("\nsocket errors: " + "; ".join(sockets))
        print(f"\n{args.listeners} listeners, one 128k segment each every ~6 s (ramp 6 s + 12 s), "
              f"goal p99 <= {LISTENER_P99_GOAL_MS:.0f} ms and no errors:\n")  # fmt: skip
        print("| target | requests | p50 ms | p99 ms | max ms | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, label in (
            ("server", "server (1 process)"),
            ("offload", "nginx + HLS offload -> server"),
            ("nginx", "control: nginx direct"),
        ):
            rows = crowds[name]
            first = next((r["first_error"] for r in rows if r["first_error"]), "")
            print(f"| {label} | {spread([r['requests'] for r in rows])} | "
                  f"{spread([r['p50'] for r in rows], 1)} | "
                  f"{spread([r['p99'] for r in rows], 1)} | {spread([r['max'] for r in rows], 1)} | "
                  f"{sum(r['errors'] for r in rows)} {first} |")  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
