"""``serve --workers N``: N server processes on one port, each with its own event loop and search index.

The parent only supervises. Each child is a plain ``harmonystream serve`` that binds the port with
``SO_REUSEPORT``, so the kernel spreads new connections over the children's own accept queues (no
shared socket, no thundering herd). What the processes share goes through Redis and the store, as
between replicas on several machines: playback state, rate limits, Socket.IO fan-out, jobs. That is why
more than one process needs ``HS_REDIS_URL``: the in-process Redis stand-in is one process's memory.

A child that dies is started again (after a pause that grows while it keeps dying); SIGTERM or SIGINT
to the parent is passed to every child, which shuts down as a single ``serve`` does, and the parent
exits when they all have.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import structlog

from server.errors import ConfigError
from server.settings import Settings

log = structlog.get_logger("harmonystream.processes")

RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Pauses before starting a child again after it died, growing while it keeps dying soon after start."""
STABLE_SECONDS = 30.0
"""A child that ran this long before dying is started again after the shortest pause."""
STOP_SECONDS = 30.0
"""How long the children get to shut down after SIGTERM before they are killed."""


def worker_count(requested: int) -> int:
    """``--workers``: 0 means one per core."""
    if requested < 0:
        raise ConfigError("--workers must be 0 (one per core) or more.")
    return requested or (os.cpu_count() or 1)


def check(settings: Settings, workers: int) -> None:
    if workers > 1 and not settings.redis_url:
        raise ConfigError(
            "serve --workers needs HS_REDIS_URL: the processes share playback state, rate limits and "
            "Socket.IO through Redis, and the built-in stand-in lives in one process's memory."
        )


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, never listening ``SO_REUSEPORT`` socket holding the port for the children to share.

    With port 0 it is what picks the port. Only listening sockets get connections, so it takes none.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((host, port))
    except OSError as exc:
        holder.close()
        raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
    return holder


class ProcessGroup:
    """Runs ``count`` children of ``argv`` until told to stop, starting again any that die."""

    def __init__(self, argv: list[str], count: int) -> None:
        self._argv = argv
        self._count = count
        self._children: dict[int, tuple[subprocess.Popen[bytes], float, int]] = {}
        """{slot: (process, when it started, how many quick deaths in a row)}."""
        self._stopping = False

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in range(self._count):
                self._start(slot, deaths=0)
            while not self._stopping:
                self._reap()
                time.sleep(0.2)
            return self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _start(self, slot: int, *, deaths: int) -> None:
        proc = subprocess.Popen(self._argv)
        self._children[slot] = (proc, time.monotonic(), deaths)
        log.info("server_process_started", slot=slot, pid=proc.pid)

    def _reap(self) -> None:
        for slot, (proc, started, deaths) in list(self._children.items()):
            code = proc.poll()
            if code is None:
                continue
            quick = time.monotonic() - started < STABLE_SECONDS
            deaths = deaths + 1 if quick else 0
            delay = RESTART_DELAYS[min(deaths, len(RESTART_DELAYS) - 1)]
            log.warning("server_process_died", slot=slot, pid=proc.pid, code=code, restart_in_s=delay)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self._stopping:
                time.sleep(0.05)
            if not self._stopping:
                self._start(slot, deaths=deaths)

    def _shutdown(self) -> int:
        procs = [proc for proc, _, _ in self._children.values()]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.info("server_processes_stopped", count=len(procs))
        return 0


def run_group(
    settings: Settings, host: str, port: int, workers: int, *, started: Callable[[int], None]
) -> None:
    """``serve --workers N`` with N > 1: reserve the port, run N children on it, supervise them."""
    check(settings, workers)
    holder = reserve_port(host, port)
    bound = holder.getsockname()[1]
    argv = [sys.executable, "-m", "server", "serve", "--host", host, "--port", str(bound), "--reuse-port"]
    if settings.data_dir:
        argv += ["--data-dir", str(settings.data_dir)]
    done = threading.Event()
    # Said once a child accepts connections, as a single process says it once it listens: whoever
    # waits for the line (a user, a script, a test) can use the address at once.
    announcer = threading.Thread(target=_announce, args=(host, bound, started, done), daemon=True)
    announcer.start()
    try:
        ProcessGroup(argv, workers).run()
    finally:
        done.set()
        holder.close()


def _announce(host: str, port: int, started: Callable[[int], None], done: threading.Event) -> None:
    """Call ``started(port)`` when a connection to the port succeeds (the holder socket takes none)."""
    target = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    while not done.is_set():
        try:
            with socket.create_connection((target, port), timeout=1.0):
                pass
        except OSError:
            done.wait(0.1)
            continue
        started(port)
        return
