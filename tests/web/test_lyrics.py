"""The lyrics panel in a real Chromium: synced lines follow playback, and a click on one seeks there."""

from __future__ import annotations

from pathlib import Path

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import PASSWORD, make_user
from tests.web.browser import open_page
from tests.web.helpers import sign_in, upload_ready_track

LRC = "[00:00.50]One\n[00:02.00]Two\n[00:04.00]Three\n[00:06.50]Four\n"


async def test_synced_lyrics_follow_playback_and_seek(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    track = await upload_ready_track(web_app, server, tmp_path, artist, "Sing Along", seconds=9)
    base = str(server.make_url("/")).rstrip("/")
    async with ClientSession() as http:
        login = {"username": artist["username"], "password": PASSWORD}
        tokens = await (await http.post(base + "/api/v1/auth/login", json=login)).json()
        resp = await http.put(
            f"{base}/api/v1/tracks/{track['id']}/lyrics",
            json={"text": LRC},
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert resp.status == 200, await resp.text()

    listener = await make_user(web_app)
    w = await open_page(browser, server)
    await sign_in(w.context, server, listener["username"])
    page = w.page
    await page.goto(f"/albums/{track['album_id']}")
    await page.get_by_role("button", name="Play Sing Along").click()
    await expect(page.locator("#player-title")).to_have_text("Sing Along")

    await page.get_by_role("button", name="Lyrics").click()
    panel = page.get_by_role("complementary", name="Lyrics")
    await expect(panel).to_be_visible()
    lines = panel.locator(".lyric")
    await expect(lines).to_have_text(["One", "Two", "Three", "Four"])

    # As playback passes 2 s, "Two" becomes the current line, and only it.
    await page.wait_for_function("() => document.getElementById('audio').currentTime > 2.3", timeout=20_000)
    current = panel.locator('.lyric[aria-current="true"]')
    await expect(current).to_have_count(1)
    await expect(current).to_have_text("Two")

    # A click on "Four" seeks to its start and makes it the current line.
    await lines.filter(has_text="Four").click()
    await page.wait_for_function("() => document.getElementById('audio').currentTime >= 6.5", timeout=10_000)
    await expect(current).to_have_text("Four")
    assert await page.evaluate("() => document.getElementById('audio').currentTime") < 8.5
    w.assert_clean()
