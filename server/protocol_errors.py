"""Requests aiohttp refuses before any middleware runs, answered in the API's JSON error shape.

A request line or header that aiohttp's parser rejects (over-long lines, control characters, a broken
chunked body) never reaches the app, so ``server.middleware.errors`` cannot shape its answer; aiohttp
would send ``text/plain`` and log the client's mistake as an ERROR with a traceback. This handler
class answers the same statuses as JSON with the security headers, and logs client mistakes at info.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from server.middleware.security_headers import ALWAYS as SECURITY_HEADERS

log = structlog.get_logger("harmonystream.protocol")


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol, with its own error answers in the API's shape."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("protocol_error", status=status, exc_info=exc)
        else:
            log.info("malformed_request", status=status, reason=(message or str(exc or ""))[:200])
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response")
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        code = "malformed_request" if status < 500 else "internal_error"
        text = "The request is not valid HTTP." if status < 500 else "Something went wrong on our side."
        body = {"error": {"code": code, "message": text, "details": {"status": status, "reason": phrase}}}
        response = web.Response(
            status=status,
            body=json.dumps(body).encode(),
            content_type="application/json",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
        )
        response.force_close()
        return response


def handler_factory(server: web.Server) -> Callable[[], RequestHandler]:
    """What ``server()`` makes, with :class:`JsonErrorRequestHandler` as the protocol class."""
    kwargs: dict[str, Any] = dict(server._kwargs)

    def make() -> RequestHandler:
        return JsonErrorRequestHandler(server, loop=server._loop, **kwargs)

    return make
