"""An admin changes a role; two browsers of one user share one playback (play in one, pause in the other)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from server import keys
from tests.helpers import make_user
from tests.web.browser import open_page
from tests.web.helpers import sign_in, upload_ready_track

PAUSED = "() => document.getElementById('audio').paused"


async def test_admin_gives_artist_role(
    server: TestServer, web_app: web.Application, browser: Browser
) -> None:
    admin = await make_user(web_app, "admin")
    listener = await make_user(web_app)
    w = await open_page(browser, server)
    await sign_in(w.context, server, admin["username"])
    page = w.page
    await page.goto("/")
    await page.get_by_role("link", name="Admin").click()
    await expect(page).to_have_url("/admin")
    row = page.locator(f'tr[data-username="{listener["username"]}"]')
    await expect(row.get_by_label(f"listener role for {listener['username']}")).to_be_checked()
    async with page.expect_response(lambda r: f"/api/v1/users/{listener['_id']}" in r.url) as answered:
        await row.get_by_label(f"artist role for {listener['username']}").check()
    assert (await answered.value).ok
    stored = await web_app[keys.USERS].get(listener["_id"])
    assert sorted(stored.roles) == ["artist", "listener"]
    # The admin cannot take away their own admin role from here.
    own = page.locator(f'tr[data-username="{admin["username"]}"]')
    await expect(own.get_by_label(f"admin role for {admin['username']}")).to_be_disabled()
    w.assert_clean()


async def test_two_devices_follow_one_playback(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    track = await upload_ready_track(web_app, server, tmp_path, artist, "Shared Tune", seconds=12)
    user = await make_user(web_app)
    one = await open_page(browser, server)
    two = await open_page(browser, server)
    await sign_in(one.context, server, user["username"])
    await sign_in(two.context, server, user["username"])
    await one.page.goto(f"/albums/{track['album_id']}")
    await two.page.goto("/")
    await expect(two.page.get_by_role("heading", level=1)).to_be_visible()

    await one.page.get_by_role("button", name="Play Shared Tune").click()
    await one.page.wait_for_function("() => document.getElementById('audio').currentTime > 0.5")
    # The other device shows what plays where, and does not play it itself.
    await expect(two.page.locator("#player-title")).to_have_text("Shared Tune")
    await expect(two.page.locator("#device-label")).to_contain_text("Playing on Chrome")
    await expect(two.page.get_by_role("button", name="Play here")).to_be_visible()
    assert await two.page.evaluate(PAUSED) is True

    # Pause from the second device: the first one stops.
    await two.page.get_by_role("button", name="Pause").click()
    await one.page.wait_for_function(PAUSED)
    await expect(two.page.locator("#device-label")).to_contain_text("Paused on Chrome")
    await expect(one.page.locator("#btn-play")).to_have_attribute("aria-label", "Play")

    # "Play here" moves playback to the second device; the first one shows it playing there.
    await two.page.get_by_role("button", name="Play here").click()
    await two.page.wait_for_function("() => document.getElementById('audio').currentTime > 0.5")
    await expect(one.page.locator("#device-label")).to_contain_text("Playing on Chrome")
    assert await one.page.evaluate(PAUSED) is True
    one.assert_clean()
    two.assert_clean()


async def test_admin_scans_a_folder_and_sees_its_pace(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    from tests.audio import make_audio

    folder = tmp_path / "music"
    folder.mkdir()
    for n in range(3):
        make_audio(folder / f"{n}.mp3", "mp3", 1.0, tags={"title": f"Scanned {n}", "artist": "Pace Band"})
    admin = await make_user(web_app, "admin")
    w = await open_page(browser, server)
    await sign_in(w.context, server, admin["username"])
    page = w.page
    await page.goto("/admin/scan")
    await page.get_by_label("Folder on the server").fill(str(folder))
    await page.get_by_role("button", name="Start scan").click()
    status = page.locator(".scan-progress")
    await expect(status).to_contain_text("done 3/3", timeout=30_000)
    await expect(status).to_contain_text(" files/s")
    w.assert_clean()
