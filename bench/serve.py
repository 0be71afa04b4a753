"""Benchmark: serving HLS segments — one server process vs nginx, and 10,000 simulated listeners.

    python bench/serve.py [--seconds 8] [--connections 32] [--listeners 10000]

Setup (in a temp dir, removed at the end): a 60 s FLAC, transcoded by ``transcoder.pipeline`` into
the real ladder; two ``harmonystream serve`` processes on that data dir (one plain, one with
``HS_ACCEL_REDIRECT``), each with its normal middleware and JSON request log (to a file); a private
nginx with 1 worker serving the media dir directly; and nginx from ``deploy/nginx.conf`` (1 worker)
in front of the accel server. All traffic is on loopback.

1. ``wrk`` (Debian package) with 1 thread and ``--connections`` keep-alive connections, for
   ``--seconds`` each, cycling over every segment of every rung: through signed URLs to the server,
   to nginx direct, and through nginx with X-Accel-Redirect. Requests/s and p50/p99 latency.
   Goals: server >= 0.50x nginx direct; nginx with offload >= 0.90x nginx direct.
2. ``--listeners`` keep-alive connections to the plain server, opened over 6 s, each fetching the next
   128k segment every 6 s (+-10 % jitter) for ~12 s more. p50/p99/max of time to the last body byte,
   and errors. Goal: p99 <= 100 ms, no errors. Then the same crowd against nginx direct, as a control
   for what the (single-process, Python) simulator adds, and the server's own logged handling times.

The machine running it also runs wrk and the listener simulator, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from pathlib import Path

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


def run_wrk(base: str, paths: list[str], seconds: int, connections: int, workdir: Path) -> dict[str, float]:
    script = workdir / "paths.lua"
    script.write_text(WRK_SCRIPT % ",".join(f'"{p}"' for p in paths))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base + paths[0]],
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
        "socket_errors": socket_errors.group(1) if socket_errors else "none",  # type: ignore[dict-item]
    }


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
) -> dict[str, float]:
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
        "first_error": errors[0] if errors else "",  # type: ignore[dict-item]
    }


def handler_times(log: Path, offset: int) -> tuple[float, float, float]:
    """p50/p99/max of the ``ms`` the server logged for /hls/ requests after ``offset``."""
    times = []
    with log.open("rb") as f:
        f.seek(offset)
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("path", "")).startswith("/hls/") and "ms" in entry:
                times.append(float(entry["ms"]))
    if len(times) < 2:
        return (0.0, 0.0, 0.0)
    q = statistics.quantiles(times, n=100)
    return (q[49], q[98], max(times))


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--listeners", type=int, default=10_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hs-bench-serve-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data_dir = work / "data"
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
        signed_paths = [f"/hls/{token}/{TRACK_ID}/{s}" for s in segments]
        direct_paths = [f"/direct/hls/{TRACK_ID}/{s}" for s in segments]
        sizes = [(layout.hls_dir(TRACK_ID) / s).stat().st_size for s in segments]

        port_plain, port_accel, port_direct, port_front = (free_port() for _ in range(4))
        procs.append(start_server(data_dir, port_plain, work / "server-plain.log"))
        procs.append(start_server(data_dir, port_accel, work / "server-accel.log", accel="/internal-media"))
        wait_ready(f"http://127.0.0.1:{port_plain}/healthz")
        wait_ready(f"http://127.0.0.1:{port_accel}/healthz")

        direct_conf = (
            f"{TYPES}\n    sendfile on;\n    tcp_nopush on;\n    keepalive_requests 100000;\n"
            f"    server {{\n        listen 127.0.0.1:{port_direct};\n"
            f"        location /direct/ {{ alias {layout.root}/; }}\n    }}\n"
        )

        def direct(prefix: Path) -> str:
            (prefix / "http.conf").write_text(direct_conf)
            return main_block(prefix, workers=1)

        def front(prefix: Path) -> str:
            return deploy_config(prefix, app_port=port_accel, listen_port=port_front, media_dir=layout.root)

        with run_nginx(direct), run_nginx(front):
            wait_ready(f"http://127.0.0.1:{port_direct}{direct_paths[0]}")
            wait_ready(f"http://127.0.0.1:{port_front}{signed_paths[0]}")
            for base, paths in (
                (f"http://127.0.0.1:{port_plain}", signed_paths),
                (f"http://127.0.0.1:{port_direct}", direct_paths),
                (f"http://127.0.0.1:{port_front}", signed_paths),
            ):
                run_wrk(base, paths, 2, args.connections, work)  # warm-up: page cache, lazy imports
            server = run_wrk(
                f"http://127.0.0.1:{port_plain}", signed_paths, args.seconds, args.connections, work
            )
            nginx = run_wrk(
                f"http://127.0.0.1:{port_direct}", direct_paths, args.seconds, args.connections, work
            )
            accel = run_wrk(
                f"http://127.0.0.1:{port_front}", signed_paths, args.seconds, args.connections, work
            )
            listener_paths = [p for p in signed_paths if "/128k/" in p]
            log_start = (work / "server-plain.log").stat().st_size
            crowd = asyncio.run(
                simulate_listeners(port_plain, listener_paths, args.listeners, ramp=6.0, run=12.0)
            )
            # Control: the same crowd against nginx, to show what the simulator itself adds.
            control = asyncio.run(
                simulate_listeners(
                    port_direct,
                    [p for p in direct_paths if "/128k/" in p],
                    args.listeners,
                    ramp=6.0,
                    run=12.0,
                )
            )

        print(f"\nsegments: {len(segments)} files, {min(sizes)}-{max(sizes)} bytes; "
              f"wrk -t1 -c{args.connections} -d{args.seconds}s; "
              f"{os.cpu_count()} CPUs shared by everything\n")  # fmt: skip
        print("| target | req/s | p50 ms | p99 ms | non-2xx | ratio to nginx direct | goal |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, row, goal in (
            ("server, signed URLs (1 process)", server, f">= {SERVER_GOAL:.2f}x"),
            ("nginx direct (1 worker)", nginx, "-"),
            ("nginx + X-Accel-Redirect -> server", accel, f">= {ACCEL_GOAL:.2f}x"),
        ):
            print(f"| {name} | {row['rps']:.0f} | {row['p50']:.2f} | {row['p99']:.2f} | "
                  f"{row['errors']:.0f} | {row['rps'] / nginx['rps']:.2f}x | {goal} |")  # fmt: skip
        print(f"\nsocket errors: server {server['socket_errors']}; nginx {nginx['socket_errors']}; "
              f"accel {accel['socket_errors']}")  # fmt: skip
        print(f"\n{args.listeners} listeners, one 128k segment each every ~6 s (ramp 6 s + 12 s):")
        print(f"requests {crowd['requests']}, p50 {crowd['p50']:.1f} ms, p99 {crowd['p99']:.1f} ms, "
              f"max {crowd['max']:.1f} ms, errors {crowd['errors']} {crowd['first_error']} "
              f"(goal p99 <= {LISTENER_P99_GOAL_MS:.0f} ms, no errors)")  # fmt: skip
        print(f"control, same crowd against nginx direct: p50 {control['p50']:.1f} ms, "
              f"p99 {control['p99']:.1f} ms, max {control['max']:.1f} ms, "
              f"errors {control['errors']}")  # fmt: skip
        inside = handler_times(work / "server-plain.log", log_start)
        print(f"inside the server (its request log, middleware included): p50 {inside[0]:.2f} ms, "
              f"p99 {inside[1]:.2f} ms, max {inside[2]:.2f} ms")  # fmt: skip
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
