"""Pages under watch: every JavaScript error and every failed request is recorded and asserted on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Response

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    # Playback starts from a click in the tests, but the HLS load finishes after the click's activation.
    "--autoplay-policy=no-user-gesture-required",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class Watched:
    """A page and the problems seen on it."""

    page: Page
    context: BrowserContext
    problems: list[str] = field(default_factory=list)
    allowed: set[str] = field(default_factory=set)
    """URL fragments of requests that may fail on purpose (none by default)."""
    api_in_flight: set[Request] = field(default_factory=set)

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)

    async def api_settled(self, quiet: float = 0.3, within: float = 15.0) -> None:
        """Wait until no API request has been in flight for ``quiet`` seconds.

        Leaving a page (a reload, a sign-out) aborts what it still fetches, and the app fetches on
        its own too (the player's state when the socket connects), not only behind ``.loading``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        calm_since = None
        while True:
            now = loop.time()
            if self.api_in_flight:
                calm_since = None
            elif calm_since is None:
                calm_since = now
            elif now - calm_since >= quiet:
                return
            assert now < deadline, f"API requests still in flight: {[r.url for r in self.api_in_flight]}"
            await asyncio.sleep(0.05)


async def open_page(
    browser: Browser,
    server: TestServer,
    *,
    viewport: dict | None = None,
    context: BrowserContext | None = None,
) -> Watched:
    """A new page (in a new context unless one is given) on the server, watched for problems."""
    ctx = context or await browser.new_context(
        viewport=viewport or DESKTOP,
        base_url=str(server.make_url("/")).rstrip("/"),
        device_scale_factor=1,
    )
    page = await ctx.new_page()
    watched = Watched(page, ctx)

    def on_console(msg: ConsoleMessage) -> None:
        # Failed loads are recorded (with their URL) by the response and requestfailed handlers.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            watched.problems.append(f"console error: {msg.text}")

    def on_failed(request: Request) -> None:
        failure = request.failure or ""
        # A media element abandoning a range request when playback moves on is not a failure.
        if "ERR_ABORTED" in failure and request.resource_type == "media":
            return
        # Socket.IO's pending long-poll is cancelled by design when the page unloads.
        if "ERR_ABORTED" in failure and "/socket.io/" in request.url:
            return
        watched.problems.append(f"request failed: {request.method} {request.url} {failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400 and not any(a in response.url for a in watched.allowed):
            watched.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))

    def on_request(request: Request) -> None:
        if "/api/" in request.url:
            watched.api_in_flight.add(request)

    def on_done(request: Request) -> None:
        watched.api_in_flight.discard(request)

    def on_request_failed(request: Request) -> None:
        on_done(request)
        on_failed(request)

    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    page.on("request", on_request)
    page.on("requestfinished", on_done)
    return watched


async def visit(page: Page, path: str) -> None:
    """Follow an in-app link to ``path`` (history routing), as a click in the app would.

    ``page.goto`` reloads the whole page and cancels the app's requests still in flight, which would
    show up as failed requests that no user could cause by clicking.
    """
    await page.evaluate(
        "(p) => { const a = document.createElement('a'); a.href = p; document.body.append(a);"
        " a.click(); a.remove(); }",
        path,
    )
    await page.wait_for_url(f"**{path}")
