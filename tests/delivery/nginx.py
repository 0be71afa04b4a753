"""A private nginx (Debian's package) for tests: its own prefix, config, pid, logs and temp paths."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def main_block(prefix: Path, *, workers: int = 1) -> str:
    """The top of a config: everything writes under ``prefix``; root's workers stay root (tests' files)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(
        f"    {name}_temp_path {prefix}/{name}_temp;\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes {workers};\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\nevents {{ worker_connections 16384; }}\n"
        f"http {{\n    access_log off;\n{temps}    include {prefix}/http.conf;\n}}\n"
    )


@contextmanager
def private_nginx(http_conf: str, *, workers: int = 1) -> Iterator[Path]:
    """Run nginx with ``http_conf`` (the inside of ``http {}``) until the block ends; yields the prefix.

    The config must listen on ports the caller picked (``tests.services.free_port``).
    """

    def config(prefix: Path) -> str:
        (prefix / "http.conf").write_text(http_conf)
        return main_block(prefix, workers=workers)

    with run_nginx(config) as prefix:
        yield prefix


PROJECT = Path(__file__).resolve().parents[2]
DEPLOY_CONF = PROJECT / "deploy" / "nginx.conf"


HLS_LOCATION = 'location ~ "^/hls/'


def deploy_config(
    prefix: Path,
    *,
    app_port: int,
    listen_port: int,
    media_dir: Path,
    workers: int = 1,
    hls_offload: bool = True,
) -> str:
    """deploy/nginx.conf with its container paths and ports replaced by private ones (nothing else).

    ``hls_offload=False`` disables the HLS location (its pattern never matches), so HLS requests go to
    the server like everything else: the X-Accel-Redirect mode alone, for comparison.
    """
    text = DEPLOY_CONF.read_text()
    if not hls_offload:
        if text.count(HLS_LOCATION) != 1:
            raise AssertionError("deploy/nginx.conf no longer has exactly one HLS location")
        text = text.replace(HLS_LOCATION, 'location ~ "^/hls-offload-disabled/')
    temps = "".join(
        f"    {n}_temp_path {prefix}/{n}_temp;\n"
        for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    for old, new in (
        ("worker_processes auto;", f"{user}daemon off;\nworker_processes {workers};"),
        ("pid /var/run/nginx.pid;", f"pid {prefix}/nginx.pid;"),
        ("error_log /dev/stderr warn;", f"error_log {prefix}/error.log warn;"),
        ("http {\n", "http {\n" + temps),
        ("server server:8080;", f"server 127.0.0.1:{app_port};"),
        ("listen 80;", f"listen 127.0.0.1:{listen_port};"),
        ("/var/cache/nginx/hs-media-auth", f"{prefix}/hs-media-auth"),
    ):
        if text.count(old) != 1:
            raise AssertionError(f"deploy/nginx.conf no longer has exactly one {old!r}")
        text = text.replace(old, new)
    # The media dir appears in every location that sends files (aliases, symlink checks).
    if text.count("/data/media") < 2:
        raise AssertionError("deploy/nginx.conf no longer names /data/media")
    return text.replace("/data/media", str(media_dir))


@contextmanager
def run_nginx(config: Callable[[Path], str]) -> Iterator[Path]:
    """Run nginx on ``config(prefix)`` (a whole nginx.conf) with everything under a temp prefix."""
    prefix = Path(tempfile.mkdtemp(prefix="hs-nginx-"))
    conf = prefix / "nginx.conf"
    conf.write_text(config(prefix))
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected the config: {check.stderr.decode()}")
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield prefix
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(prefix, ignore_errors=True)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


TYPES = """
    types {
        application/vnd.apple.mpegurl m3u8;
        audio/mp4 m4s mp4 m4a;
        audio/flac flac;
        audio/mpeg mp3;
        audio/ogg ogg opus oga;
    }
    default_type application/octet-stream;
"""
