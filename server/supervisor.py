"""Supervised background work: every long-lived task of a process is started here and kept alive.

A task that raises is logged with its traceback, counted, and started again after a backoff that
doubles from ``initial_backoff`` up to ``max_backoff`` (and resets once an attempt has run for
``healthy_after`` seconds). Its state is reported to ``/readyz`` (a task waiting to restart makes the
process not ready) and to metrics (``hs_background_task_up``, ``hs_background_task_failures_total``).
A task that returns normally has finished its work and is not restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Gauge

from server.metrics import Metrics

log = structlog.get_logger("harmonystream.supervisor")


@dataclass(slots=True)
class TaskState:
    name: str
    state: str = "starting"
    """"running", "restarting" (waiting out a backoff after a failure) or "finished"."""
    failures: int = 0
    last_error: str | None = None


class Supervisor:
    def __init__(
        self,
        metrics: Metrics,
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        healthy_after: float = 60.0,
    ) -> None:
        self._initial = initial_backoff
        self._max = max_backoff
        self._healthy_after = healthy_after
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, TaskState] = {}
        self._up = Gauge(
            "hs_background_task_up",
            "1 while a background task runs, 0 while it waits to restart.",
            ["task"],
            registry=metrics.registry,
        )
        self._failures = Counter(
            "hs_background_task_failures_total",
            "Failures of background tasks (each was restarted).",
            ["task"],
            registry=metrics.registry,
        )

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` in the background under ``name``, restarting it whenever it fails."""
        if name in self._tasks:
            raise ValueError(f"a background task named {name!r} runs already")
        self.states[name] = TaskState(name)
        self._tasks[name] = asyncio.create_task(self._keep(name, run), name=f"supervised-{name}")

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        state = self.states[name]
        backoff = self._initial
        while True:
            state.state = "running"
            self._up.labels(name).set(1)
            started = time.monotonic()
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() - started >= self._healthy_after:
                    backoff = self._initial
                state.failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"[:200]
                state.state = "restarting"
                self._up.labels(name).set(0)
                self._failures.labels(name).inc()
                log.exception("background_task_failed", task=name, restart_in=round(backoff, 2))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max)
            else:
                state.state = "finished"
                self._up.labels(name).set(0)
                return

    def health(self) -> dict[str, str]:
        """{task name: "ok" | "restarting: <last error>"}, for ``/readyz``."""
        return {
            name: "ok" if s.state != "restarting" else f"restarting: {s.last_error}"
            for name, s in self.states.items()
        }

    async def stop(self, name: str | None = None) -> None:
        """Cancel one task (or all) and wait for it to end."""
        names = [name] if name is not None else list(self._tasks)
        for n in names:
            task = self._tasks.pop(n, None)
            self.states.pop(n, None)
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
