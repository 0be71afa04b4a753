"""Shutdown steps that cannot hang the process.

A stopping server must stop even when a part of it does not: a library that swallows a cancellation,
a connection that never answers. Each step gets a bounded time; a step still running then is
cancelled, logged with its name, and left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog

log = structlog.get_logger("harmonystream.shutdown")


async def bounded(step: Awaitable[object], *, seconds: float, what: str) -> bool:
    """Await ``step`` for at most ``seconds``; True when it finished in time."""
    task = asyncio.ensure_future(step)
    # asyncio.wait, not wait_for: wait_for would itself wait for a cancellation that may never land.
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        if not task.cancelled() and task.exception() is not None:
            log.error("shutdown_step_failed", step=what, error=repr(task.exception()))
        return True
    task.cancel()
    log.error("shutdown_step_stuck", step=what, seconds=seconds)
    return False
