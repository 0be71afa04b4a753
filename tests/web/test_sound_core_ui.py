"""Web app defects an outside probe found: each test failed before its fix.

Request sequencing of "next", seeking another device from its own position, the studio's poll ending
with its view, one short announcement per view, malformed URLs, the playing row, the remote-device
label at 1440 px, the admin users table, and tables that scroll on a phone.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import make_user
from tests.web.browser import PHONE, open_page, visit
from tests.web.helpers import sign_in, upload_ready_track

PLAYBACK_JS = "async () => (await (await fetch('/api/v1/playback')).json())"
# Every interval the page starts is recorded; cleared ones are dropped (set before the app loads).
INTERVALS_JS = """
(() => {
  const live = new Set();
  const set = window.setInterval.bind(window);
  const clear = window.clearInterval.bind(window);
  window.setInterval = (fn, ms, ...rest) => { const id = set(fn, ms, ...rest); live.add(id); return id; };
  window.clearInterval = (id) => { live.delete(id); clear(id); };
  window.__liveIntervals = () => live.size;
})();
"""


async def test_a_fast_double_next_plays_the_track_it_shows(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    tracks = [
        await upload_ready_track(web_app, server, tmp_path, artist, title, seconds=6)
        for title in ("One Fish", "Two Fish", "Red Fish")
    ]
    user = await make_user(web_app)
    w = await open_page(browser, server)
    await sign_in(w.context, server, user["username"])
    page = w.page
    await page.goto(f"/albums/{tracks[0]['album_id']}")
    await page.get_by_role("button", name="Play One Fish").click()
    await page.wait_for_function("() => document.getElementById('audio').currentTime > 0.2")
    await page.evaluate(
        "() => { document.getElementById('btn-next').click(); document.getElementById('btn-next').click(); }"
    )
    await expect(page.locator("#player-title")).to_have_text("Red Fish")
    await page.wait_for_function("() => document.getElementById('audio').currentTime > 0.3")
    await w.api_settled()
    state = await page.evaluate(PLAYBACK_JS)
    assert state["track_id"] == tracks[2]["id"] and state["is_playing"] is True
    # The row marked as playing is the same one.
    playing = page.locator("li.track[aria-current='true']")
    await expect(playing).to_have_count(1)
    await expect(playing).to_have_attribute("data-track-id", tracks[2]["id"])
    await expect(playing).to_have_class("track playing")
    w.assert_clean()


async def test_keyboard_seek_on_a_remote_device_moves_from_its_position(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    track = await upload_ready_track(web_app, server, tmp_path, artist, "Long Road", seconds=40)
    user = await make_user(web_app)
    one = await open_page(browser, server)
    two = await open_page(browser, server, viewport={"width": 1440, "height": 900})
    await sign_in(one.context, server, user["username"])
    await sign_in(two.context, server, user["username"])
    await one.page.goto(f"/albums/{track['album_id']}")
    await two.page.goto("/")
    await one.page.get_by_role("button", name="Play Long Road").click()
    await one.page.wait_for_function("() => document.getElementById('audio').currentTime > 0.5")
    await expect(two.page.locator("#device-label")).to_contain_text("Playing on Chrome")

    # At 1440 px the remote-device label is shown whole, not cut to "Playin…".
    clipped = await two.page.evaluate(
        "() => { const e = document.getElementById('device-label');"
        " return e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1; }"
    )
    assert clipped is False

    await two.page.locator("h1").click()  # focus off any field: shortcuts apply
    for _ in range(3):
        async with two.page.expect_response(lambda r: "/api/v1/playback/seek" in r.url):
            await two.page.keyboard.press("ArrowRight")
    # Three times +5 s from where the other device was (not three times "5 s from zero").
    await one.page.wait_for_function("() => document.getElementById('audio').currentTime > 14")
    one.assert_clean()
    two.assert_clean()


async def test_the_studio_stops_polling_when_left(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    from tests.audio import make_audio

    artist = await make_user(web_app, "artist")
    w = await open_page(browser, server)
    await w.context.add_init_script(INTERVALS_JS)
    await sign_in(w.context, server, artist["username"])
    page = w.page
    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    baseline = await page.evaluate("() => window.__liveIntervals()")
    await visit(page, "/studio")
    file = make_audio(tmp_path / "poll.mp3", "mp3", 2.0)
    await page.locator("input[type=file]").set_input_files(str(file))
    await page.wait_for_function(f"() => window.__liveIntervals() > {baseline}")
    await visit(page, "/")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert await page.evaluate("() => window.__liveIntervals()") == baseline
    await w.api_settled()
    w.assert_clean()


async def test_views_are_announced_once_and_malformed_urls_are_not_found(
    server: TestServer, web_app: web.Application, browser: Browser
) -> None:
    user = await make_user(web_app)
    w = await open_page(browser, server)
    await sign_in(w.context, server, user["username"])
    page = w.page
    await page.goto("/albums")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Albums")
    # <main> is not a live region (it would read every view aloud); a status line names the view.
    assert await page.locator("#main").get_attribute("aria-live") is None
    await expect(page.locator("#announcer")).to_have_text("Albums page")
    await visit(page, "/albums/%E0%A4%A")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    await expect(page.locator("#announcer")).to_have_text("Not found page")
    w.assert_clean()


async def test_admin_tables_line_up_and_phone_tables_show_they_scroll(
    server: TestServer, web_app: web.Application, browser: Browser
) -> None:
    admin = await make_user(web_app, "admin")
    await make_user(web_app, "artist")
    for viewport in (None, PHONE):
        w = await open_page(browser, server, viewport=viewport)
        await sign_in(w.context, server, admin["username"])
        page = w.page
        await page.goto("/admin")
        rows = page.locator("table.data tbody tr")
        await expect(rows).to_have_count(2)
        # Every cell of a row spans the row's full height: a flex <td> would not, and its borders break.
        uneven = await page.evaluate(
            "() => [...document.querySelectorAll('table.data tbody tr')].some((tr) =>"
            " [...tr.cells].some((td) => Math.abs(td.getBoundingClientRect().height"
            " - tr.getBoundingClientRect().height) > 1))"
        )
        assert uneven is False
        wrap = page.locator(".table-wrap")
        await expect(wrap).to_have_attribute("tabindex", "0")
        await expect(wrap).to_have_attribute("role", "region")
        if viewport is PHONE:
            overflow = await wrap.evaluate("(e) => e.scrollWidth > e.clientWidth")
            shadows = await wrap.evaluate("(e) => getComputedStyle(e).backgroundImage")
            assert overflow is True and shadows.count("gradient") == 4
        w.assert_clean()
        await w.context.close()
