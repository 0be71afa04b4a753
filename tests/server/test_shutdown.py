"""A shutdown step that ignores cancellation is left behind instead of hanging the process."""

from __future__ import annotations

import asyncio
import contextlib

from server.shutdown import bounded


async def test_a_step_that_swallows_cancellation_does_not_hang():
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    # wait_for only guards this test against the very hang bounded() exists to prevent.
    finished = await asyncio.wait_for(bounded(stubborn(), seconds=0.1, what="stubborn"), timeout=10)
    assert finished is False
    release.set()


async def test_a_step_that_finishes_reports_true():
    async def quick() -> str:
        await asyncio.sleep(0)
        return "done"

    assert await bounded(quick(), seconds=5, what="quick") is True


async def test_a_failing_step_is_reported_not_raised():
    async def broken() -> None:
        raise RuntimeError("boom")

    assert await bounded(broken(), seconds=5, what="broken") is True
