"""A scanned track whose ladder is made on play, in the web player (hls.js in Chromium): it plays to its
end, and a seek into a part never made plays from there."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from server import keys
from server.catalog.scan_cli import run_scan
from server.settings import Settings
from tests.audio import make_audio
from tests.helpers import make_user
from tests.web.browser import open_page
from tests.web.helpers import sign_in


@pytest.fixture
def web_settings(web_settings: Settings) -> Settings:
    return dataclasses.replace(web_settings, scan_ladders="on-play")


async def _play(page: Page, title: str) -> None:
    await page.goto(f"/search?q={title.split()[0].lower()}")
    await page.get_by_role("button", name=f"Play {title}").first.click()
    await expect(page.locator("#player-title")).to_have_text(title)


async def test_hls_js_plays_a_track_made_on_play_to_its_end_and_after_a_seek(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    root = tmp_path / "music"
    root.mkdir()
    make_audio(root / "short.flac", "flac", 5.0, tags={"title": "Quick Sketch", "artist": "Scanner"})
    make_audio(root / "long.mp3", "mp3", 120.0, tags={"title": "Slow Movement", "artist": "Scanner"})
    summary = await run_scan(web_app[keys.SETTINGS], root, out=io.StringIO(), err=io.StringIO())
    assert (summary.added, summary.queued) == (2, 0)
    listener = await make_user(web_app)
    w = await open_page(browser, server)
    await sign_in(w.context, server, listener["username"])
    page = w.page
    segments: list[str] = []
    page.on("request", lambda r: segments.append(r.url.rsplit("/", 2)[-2] + "/" + r.url.rsplit("/", 1)[-1])
            if r.url.endswith(".m4s") else None)  # fmt: skip

    # To its end: the player comes to the last sample of the five seconds.
    await _play(page, "Quick Sketch")
    await page.wait_for_function(
        "() => { const a = document.getElementById('audio'); return a.ended || a.currentTime > 4.8; }",
        timeout=30_000,
    )
    assert segments, "hls.js fetched no segment"

    # A seek to 90 s of a two-minute track, far past what hls.js buffers ahead (30 s): it asks for the
    # segment there (15: 89.99 s on), which nobody made, and plays on from it.
    await _play(page, "Slow Movement")
    await page.wait_for_function("() => document.getElementById('audio').currentTime > 0.5", timeout=30_000)
    before = len(segments)
    fetched_before = {s.rsplit("/", 1)[-1] for s in segments[:before]}
    assert "seg_00015.m4s" not in fetched_before and "seg_00012.m4s" not in fetched_before
    await page.evaluate("() => { document.getElementById('audio').currentTime = 90; }")
    await page.wait_for_function("() => document.getElementById('audio').currentTime > 91.5", timeout=30_000)
    after_seek = [s.rsplit("/", 1)[-1] for s in segments[before:]]
    assert after_seek[0] in ("seg_00014.m4s", "seg_00015.m4s"), after_seek
    state = await page.evaluate(
        "() => { const a = document.getElementById('audio'); return [a.paused, a.error]; }"
    )
    assert state == [False, None]
    w.assert_clean()
