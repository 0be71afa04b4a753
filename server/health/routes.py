"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer) and ``/metrics``."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import tempfile
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from server import keys
from server.api import ANYONE, Api, json_response
from server.disk import low_space
from server.errors import Forbidden, Unauthorized

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
    """Database, Redis, the data directory, the media bucket if any and background tasks are well;
    else 503 with Retry-After. Free space below ``HS_MIN_FREE_MB`` answers 200 with status
    ``degraded`` and ``storage: "low: …"``."""
    settings = request.app[keys.SETTINGS]
    db = request.app[keys.DB]
    redis = request.app[keys.REDIS]
    checks = {
        "database": db.command("ping"),
        "redis": redis.ping(),
        "storage": asyncio.to_thread(_check_writable, settings.data_dir),
    }
    delivery = request.app[keys.DELIVERY]
    if delivery.remote:
        # The bucket answers (a listing of one key's worth; no object needs to exist).
        checks["object_store"] = delivery.store.stat("hls/readyz-probe/master.m3u8")
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, timeout=settings.dependency_timeout)
            results[name] = "ok"
        except Exception as exc:  # any failure of a dependency means "not ready", reported by name
            results[name] = f"down: {type(exc).__name__}"
    # Background work: a task waiting to restart after a failure (search index, job sweeper…).
    for name, health in request.app[keys.SUPERVISOR].health().items():
        results[f"task:{name}"] = health
    ready = all(v == "ok" for v in results.values())
    # Low disk space is reported, not a reason to be taken out of a load balancer: reads still work.
    low = results["storage"] == "ok" and await asyncio.to_thread(
        low_space, settings.data_dir, settings.min_free_mb
    )
    if low:
        results["storage"] = low
    return json_response(
        Readiness(status=("degraded" if low else "ok") if ready else "unavailable", checks=results),
        status=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


def _check_metrics_access(request: web.Request) -> None:
    """The token when one is configured; else only a loopback peer that came through no proxy.

    Metrics name routes, error rates and internal timings: not for the public. ``request.remote`` is
    the socket's peer here (never X-Forwarded-For), and a forwarding header means a proxy is between.
    """
    token = request.app[keys.SETTINGS].metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthorized("Send the metrics token as a bearer token.", code="metrics_token_required")
        return
    peer = request.transport.get_extra_info("peername") if request.transport else None
    loopback = False
    if peer:
        try:
            loopback = ipaddress.ip_address(peer[0]).is_loopback
        except ValueError:
            loopback = False
    if not loopback or "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        raise Forbidden(
            "Metrics are served to loopback clients only, or with HS_METRICS_TOKEN.", code="metrics_forbidden"
        )


def _check_writable(path: Path) -> None:
    fd, name = tempfile.mkstemp(dir=path, prefix=".readyz-")
    os.close(fd)
    os.unlink(name)


@api.route(
    "GET", "/metrics", roles=ANYONE, tags=["ops"], response_content={"text/plain": "Prometheus metrics"}
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics (HS_METRICS_TOKEN as a bearer token, or a direct loopback client)."""
    _check_metrics_access(request)
    body = request.app[keys.METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
