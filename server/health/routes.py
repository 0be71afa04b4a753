"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer) and ``/metrics``."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from server import keys
from server.api import ANYONE, Api, json_response

api = Api()


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@api.route("GET", "/healthz", roles=ANYONE, response=Health, tags=["ops"])
async def healthz(request: web.Request) -> Health:
    """The process is up and its event loop answers."""
    return Health(status="ok")


@api.route("GET", "/readyz", roles=ANYONE, response=Readiness, tags=["ops"])
async def readyz(request: web.Request) -> web.Response:
    """Database, Redis and the data directory answer; 503 with Retry-After when one does not."""
    settings = request.app[keys.SETTINGS]
    db = request.app[keys.DB]
    redis = request.app[keys.REDIS]
    checks = {
        "database": db.command("ping"),
        "redis": redis.ping(),
        "storage": asyncio.to_thread(_check_writable, settings.data_dir),
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, timeout=settings.dependency_timeout)
            results[name] = "ok"
        except Exception as exc:  # any failure of a dependency means "not ready", reported by name
            results[name] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" for v in results.values())
    return json_response(
        Readiness(status="ok" if ready else "unavailable", checks=results),
        status=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


def _check_writable(path: Path) -> None:
    fd, name = tempfile.mkstemp(dir=path, prefix=".readyz-")
    os.close(fd)
    os.unlink(name)


@api.route(
    "GET", "/metrics", roles=ANYONE, tags=["ops"], response_content={"text/plain": "Prometheus metrics"}
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics: request counts and latency by route."""
    body = request.app[keys.METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
