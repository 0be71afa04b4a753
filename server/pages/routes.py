"""Pages of the web app: one shell for every client-side route, plus static files.

The app is a single page with history routing: every path below is answered with the same shell,
and the JavaScript modules in ``web/static/js`` draw the view. The shell only carries whether a
session cookie is signed in, so a signed-out visitor never triggers a failing ``/auth/session`` call.
Browser libraries (hls.js, socket.io-client) are served straight from ``node_modules`` (``npm ci``).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web

from server import keys

log = structlog.get_logger(__name__)

CLIENT_ROUTES = (
    "/",
    "/login",
    "/signup",
    "/search",
    "/artists",
    "/artists/{id}",
    "/albums",
    "/albums/{id}",
    "/playlists",
    "/playlists/{id}",
    "/queue",
    "/studio",
    "/admin",
    "/admin/{section}",
)
"""Every path the client-side router draws; a reload on any of them gets the shell."""

VENDOR = {
    # URL name: directory inside node_modules holding the browser builds.
    "hls.js": "hls.js/dist",
    "socket.io-client": "socket.io-client/dist",
}


def setup_pages(app: web.Application) -> None:
    """Templates with autoescape, the page routes, ``/static`` and ``/static/vendor/<library>``."""
    web_dir: Path = app[keys.SETTINGS].web_dir
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(web_dir / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    for path in CLIENT_ROUTES:
        app.router.add_get(path, shell, name=None)
    node_modules = web_dir.parent / "node_modules"
    for name, sub in VENDOR.items():
        folder = node_modules / sub
        if folder.is_dir():
            app.router.add_static(f"/static/vendor/{name}", folder)
        else:
            # The API works without them; the player needs them: `npm ci` at the project root.
            log.warning("web_vendor_missing", library=name, folder=str(folder))
    app.router.add_static("/static", web_dir / "static")


async def shell(request: web.Request) -> web.Response:
    """The page shell; the client-side router draws the view for ``request.path``."""
    principal = request.get(keys.PRINCIPAL)
    response = aiohttp_jinja2.render_template("shell.html", request, {"signed_in": principal is not None})
    # The shell names the signed-in state; a cached copy could show the wrong one.
    response.headers["Cache-Control"] = "no-store"
    return response
