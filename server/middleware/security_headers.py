"""Security headers on every answer; pages get a Content-Security-Policy without inline scripts.

API answers that say nothing of caching get ``Cache-Control: no-store``: they are per caller (and
may carry tokens or signed URLs), so neither a shared cache nor the browser's disk should keep them.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _apply(request, exc)
        raise
    _apply(request, response)
    return response


def _apply(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/") or response.content_type == "application/json":
        response.headers.setdefault("Cache-Control", "no-store")
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
