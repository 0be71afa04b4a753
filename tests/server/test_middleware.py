"""Each middleware on a bare app, without the rest of the server."""

from __future__ import annotations

from aiohttp import web
from pymongo.errors import ServerSelectionTimeoutError

from server import keys
from server.errors import Conflict
from server.metrics import Metrics
from server.middleware.access_log import access_log_middleware
from server.middleware.errors import error_middleware
from server.middleware.security_headers import security_headers_middleware


async def _conflict(request: web.Request) -> web.Response:
    raise Conflict("Taken.", details={"field": "name"})


async def _crash(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


async def _mongo_down(request: web.Request) -> web.Response:
    raise ServerSelectionTimeoutError("no primary")


async def _page(request: web.Request) -> web.Response:
    return web.Response(text="<p>hi</p>", content_type="text/html")


def _bare_app(*middlewares) -> web.Application:
    app = web.Application(middlewares=list(middlewares))
    app[keys.METRICS] = Metrics()
    app.router.add_get("/conflict", _conflict)
    app.router.add_get("/crash", _crash)
    app.router.add_get("/mongo", _mongo_down)
    app.router.add_get("/page", _page)
    return app


async def test_error_middleware_shapes_every_failure(aiohttp_client):
    client = await aiohttp_client(_bare_app(error_middleware))
    resp = await client.get("/conflict")
    assert resp.status == 409
    assert await resp.json() == {
        "error": {"code": "conflict", "message": "Taken.", "details": {"field": "name"}}
    }

    resp = await client.get("/crash")
    assert resp.status == 500
    text = await resp.text()
    assert "secret internals" not in text and "Traceback" not in text
    assert (await resp.json())["error"]["code"] == "internal_error"

    resp = await client.get("/mongo")
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert (await resp.json())["error"]["details"] == {"dependency": "database"}

    resp = await client.get("/missing")
    assert resp.status == 404 and resp.content_type == "application/json"


async def test_security_headers_and_csp_on_pages(aiohttp_client):
    client = await aiohttp_client(_bare_app(security_headers_middleware, error_middleware))
    page = await client.get("/page")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    api = await client.get("/conflict")
    assert api.headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" not in api.headers


async def test_access_log_sets_request_id_and_counts_by_route(aiohttp_client):
    app = _bare_app(access_log_middleware, error_middleware)
    client = await aiohttp_client(app)
    resp = await client.get("/conflict", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = await client.get("/conflict", headers={"X-Request-ID": "bad id with spaces"})
    assert resp.headers["X-Request-ID"] != "bad id with spaces" and len(resp.headers["X-Request-ID"]) == 32
    metrics = app[keys.METRICS].render().decode()
    assert 'hs_http_requests_total{method="GET",route="/conflict",status="409"} 2.0' in metrics
