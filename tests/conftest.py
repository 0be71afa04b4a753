"""Fixtures shared by every test: real Redis, a fresh store per test, the app under test."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from media.storage import LocalMediaStore, MediaStore
from server.app import create_app
from server.settings import Settings
from tests.lane_server import LaneTestServer
from tests.services import BACKENDS, on_standin, private_mongo, private_redis, private_s3, s3_media_store


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """HS_TEST_REDIS_URL when given (shared: the tests never flush it), else a private redis-server."""
    given = os.environ.get("HS_TEST_REDIS_URL")
    if given:
        yield given
        return
    with private_redis() as url:
        yield url


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    """HS_TEST_MONGO_URL when given (a real MongoDB), else a private nx-27017 for the whole run."""
    given = os.environ.get("HS_TEST_MONGO_URL")
    if given:
        yield given
        return
    with private_mongo() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A private S3-compatible server (moto's server mode) with the bucket ``hs-media``, for the run."""
    with private_s3() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def media_store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    """A media store of the test's own: a local folder, or a prefix of its own in the S3 bucket."""
    if request.param == "local":
        return LocalMediaStore(tmp_path / "media")
    return s3_media_store(request.getfixturevalue("s3_endpoint"), f"t{uuid.uuid4().hex[:8]}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "standin_deviation(reason): the test meets a documented MongoDB behaviour that the nx-27017 "
        "stand-in does not follow; it is expected to fail there, and only there (docs/MONGODB.md)",
    )


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("standin_deviation")
    if marker is not None and request.param == "mongo" and on_standin():
        request.applymarker(pytest.mark.xfail(strict=True, reason=marker.kwargs.get("reason", "")))
    return request.param


@pytest.fixture
async def settings(
    tmp_path: Path, redis_url: str, store_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    """Settings of one test: its own data dir, its own Redis key prefix, its own database."""
    # Asked for here, not as an argument: embedded-only runs never start the stand-in.
    mongo_url = request.getfixturevalue("mongo_url") if store_backend == "mongo" else ""
    db_name = f"hs_test_{uuid.uuid4().hex[:12]}"
    yield Settings(
        data_dir=tmp_path / "data",
        mongo_url=mongo_url,
        mongo_db=db_name,
        redis_url=redis_url,
        redis_prefix=f"hstest:{uuid.uuid4().hex[:12]}:",
        secret_key="test-secret-" + uuid.uuid4().hex,
        hash_threads=2,
        # The app transcodes in-process (real Redis would otherwise leave it to separate workers);
        # short job timings keep retries and take-overs quick, and shutdown hands jobs back at once.
        inprocess_worker=True,
        job_claim_timeout=3.0,
        job_retry_delay=0.2,
        job_poll_interval=0.5,
        worker_shutdown_grace=0.0,
        # Uploads must not depend on how full the machine's disk is (tests/server/test_disk_full.py
        # tests the threshold itself, on a disk of its own).
        min_free_mb=1,
    )
    if mongo_url:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient = AsyncMongoClient(mongo_url)
        await client.drop_database(db_name)  # only the database this test created
        await client.close()


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(aiohttp_client, app: web.Application) -> TestClient:
    # Served as `serve` serves it: connections start in the segment lane (server/delivery/lane.py).
    return await aiohttp_client(LaneTestServer(app))


@pytest.fixture(autouse=True)
async def _report_stuck_tasks() -> AsyncIterator[None]:
    """If a test or its teardown stalls, print every pending task's stack: a hang names its culprit."""
    loop = asyncio.get_running_loop()

    def dump() -> None:
        print("\n=== tasks still pending after 60 s ===", file=sys.stderr)
        for task in asyncio.all_tasks(loop):
            print(f"--- {task!r}", file=sys.stderr)
            task.print_stack(limit=12, file=sys.stderr)

    handle = loop.call_later(60, dump)
    yield
    # Teardown of the fixtures set up after this one (the app, its clients) runs before this line.
    handle.cancel()
