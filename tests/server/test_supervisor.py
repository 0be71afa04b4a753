"""Background tasks are restarted with backoff, logged, and reported to /readyz and metrics."""

from __future__ import annotations

import asyncio
import itertools

from structlog.testing import capture_logs

from server import keys
from server.metrics import Metrics
from server.supervisor import Supervisor


async def test_a_failing_task_is_restarted_with_backoff_and_reported():
    metrics = Metrics()
    supervisor = Supervisor(metrics, initial_backoff=0.05, max_backoff=0.2)
    attempts: list[float] = []
    recovered = asyncio.Event()

    async def flaky() -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) <= 3:
            raise ConnectionError(f"database down (attempt {len(attempts)})")
        recovered.set()
        await asyncio.Event().wait()  # then runs for good

    with capture_logs() as logs:
        supervisor.start("flaky", flaky)
        await asyncio.sleep(0.02)
        assert supervisor.health()["flaky"].startswith("restarting: ConnectionError: database down")
        await asyncio.wait_for(recovered.wait(), 5)
    assert supervisor.health() == {"flaky": "ok"}
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09 and gaps[2] >= 0.18  # doubling
    failures = [e for e in logs if e["event"] == "background_task_failed"]
    assert len(failures) == 3 and all(e["task"] == "flaky" and e.get("exc_info") for e in failures)
    text = metrics.render().decode()
    assert 'hs_background_task_failures_total{task="flaky"} 3.0' in text
    assert 'hs_background_task_up{task="flaky"} 1.0' in text
    await supervisor.stop()


async def test_readyz_reports_a_task_waiting_to_restart(client):
    supervisor = client.app[keys.SUPERVISOR]

    async def broken() -> None:
        raise RuntimeError("cannot start")

    supervisor.start("probe-task", broken)
    await asyncio.sleep(0.05)
    resp = await client.get("/readyz")
    assert resp.status == 503 and resp.headers["Retry-After"]
    assert (await resp.json())["checks"]["task:probe-task"].startswith("restarting: RuntimeError")
    await supervisor.stop("probe-task")
