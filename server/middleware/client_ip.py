"""The client's address, honouring X-Forwarded-For only when the operator says a proxy is in front."""

from __future__ import annotations

from aiohttp import web

from server.settings import Settings


def client_ip(request: web.Request, settings: Settings) -> str:
    if settings.trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        # The right-most entry is the one our own proxy added; the rest can be forged by the client.
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"
