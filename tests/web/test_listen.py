"""Listening: search as you type, play through hls.js, and playlists reordered by dragging."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import PASSWORD, make_user
from tests.web.browser import open_page, visit
from tests.web.helpers import sign_in, upload_album, upload_ready_track


def _loud_tone(path: Path) -> Path:
    """A 330 Hz tone at 0.7 of full scale: far louder than the generated tracks."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "aevalsrc='0.7*sin(2*PI*330*t)':s=44100:d=4",
         "-ac", "2", "-c:a", "flac", str(path)],
        check=True,
    )  # fmt: skip
    return path


AUDIO = "() => { const a = document.getElementById('audio'); return {paused: a.paused, src: a.src}; }"


async def test_search_and_play_through_hls(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    track = await upload_ready_track(web_app, server, tmp_path, artist, "Northern Lights")
    # A much louder second track on the same album, so that album and track gains differ.
    await upload_album(server, artist, "First Light", [("Loud Hymn", _loud_tone(tmp_path / "loud.flac"))])
    listener = await make_user(web_app)
    for _ in range(100):  # the album's figures are written just after its last track is ready
        if (await _track_json(server, listener, track["id"]))["loudness"]["album_gain_db"] is not None:
            break
        await asyncio.sleep(0.1)
    w = await open_page(browser, server)
    await sign_in(w.context, server, listener["username"])
    page = w.page
    await page.goto("/")
    hls_requests: list[str] = []
    page.on("request", lambda r: hls_requests.append(r.url) if "/hls/" in r.url else None)

    await page.get_by_label("Search tracks, albums and artists").press_sequentially("north", delay=60)
    await expect(page).to_have_url("/search?q=north")
    row = page.locator(f'.track[data-track-id="{track["id"]}"]')
    await expect(row).to_be_visible()
    await row.get_by_role("button", name="Play Northern Lights").click()

    await expect(page.locator("#player-title")).to_have_text("Northern Lights")
    await expect(page.get_by_role("button", name="Pause")).to_be_visible()
    await page.wait_for_function("() => document.getElementById('audio').currentTime > 1.5", timeout=20_000)
    state = await page.evaluate(AUDIO)
    assert state["src"].startswith("blob:"), state  # MediaSource through hls.js, not a plain file
    assert any(u.endswith(".m3u8") or ".m3u8?" in u for u in hls_requests), hls_requests
    assert any(".m4s" in u or ".mp4" in u for u in hls_requests), hls_requests

    # The server knows this browser is playing it.
    base = str(server.make_url("/")).rstrip("/")
    async with ClientSession() as http:
        tokens = await (
            await http.post(
                base + "/api/v1/auth/login", json={"username": listener["username"], "password": PASSWORD}
            )
        ).json()
        playback = await (
            await http.get(
                base + "/api/v1/playback", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
        ).json()
    assert playback["track_id"] == track["id"] and playback["is_playing"] is True

    # Normalise "track" (the default): the gain brings the track to -16 LUFS, i.e. ReplayGain's track gain
    # (to -18 LUFS) + 2 dB, and its true peak stays under -1 dBTP.
    loudness = (await _track_json(server, listener, track["id"]))["loudness"]
    assert loudness and loudness["track_gain_db"] is not None, loudness

    def factor(gain: float, peak: float | None) -> str:
        db = gain + 2 if peak is None else min(gain + 2, -1 - peak)
        return f"{10 ** (db / 20):.3f}"

    audio = page.locator("#audio")
    track_factor = factor(loudness["track_gain_db"], loudness["true_peak_dbtp"])
    await expect(audio).to_have_attribute("data-gain", track_factor)
    # "album": the album's gain and peak, both set by its loud second track here.
    assert loudness["album_gain_db"] is not None, loudness
    album_factor = factor(loudness["album_gain_db"], loudness["album_true_peak_dbtp"])
    assert album_factor != track_factor
    await page.get_by_label("Normalise").select_option("album")
    await expect(audio).to_have_attribute("data-gain", album_factor)
    await page.get_by_label("Normalise").select_option("off")
    await expect(audio).to_have_attribute("data-gain", "1.000")
    assert await page.evaluate("() => localStorage.getItem('hs-normalise')") == "off"  # remembered

    # Keyboard: space pauses.
    await page.locator("#main").focus()
    await page.keyboard.press("Space")
    await expect(page.locator("#btn-play")).to_have_attribute("aria-label", "Play")
    assert (await page.evaluate(AUDIO))["paused"] is True
    w.assert_clean()


async def _track_json(server: TestServer, user: dict, track_id: str) -> dict:
    base = str(server.make_url("/")).rstrip("/")
    async with ClientSession() as http:
        login = {"username": user["username"], "password": PASSWORD}
        tokens = await (await http.post(base + "/api/v1/auth/login", json=login)).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        return await (await http.get(f"{base}/api/v1/tracks/{track_id}", headers=headers)).json()


async def test_playlist_create_and_reorder(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    titles = ["Alpha", "Bravo", "Charlie"]
    tracks = [await upload_ready_track(web_app, server, tmp_path, artist, t, seconds=3) for t in titles]
    listener = await make_user(web_app)
    w = await open_page(browser, server)
    await sign_in(w.context, server, listener["username"])
    page = w.page
    await page.goto("/playlists")
    await page.get_by_label("New playlist").fill("Road trip")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name="Road trip")).to_be_visible()
    playlist_path = page.url.split(str(server.make_url("/")).rstrip("/"), 1)[1]

    # Add each track from its menu on the album page.
    await visit(page, f"/albums/{tracks[0]['album_id']}")
    for t in titles:
        await page.get_by_role("button", name=f"More for {t}").click()
        await page.get_by_role("menuitem", name="Add to playlist…").click()
        async with page.expect_response(
            lambda r: r.url.endswith("/tracks") and r.request.method == "POST"
        ) as added:
            await page.get_by_role("menuitem", name="Road trip").click()
        assert (await added.value).ok
        await expect(page.locator("#toast")).to_have_text("Added to “Road trip”.")

    await visit(page, playlist_path)
    rows = page.locator(".track")
    await expect(rows).to_have_count(3)
    await expect(rows.locator(".track-title")).to_have_text(titles)
    # Drag the last track onto the first place.
    await rows.nth(2).drag_to(rows.nth(0))
    await expect(rows.locator(".track-title")).to_have_text(["Charlie", "Alpha", "Bravo"])
    # The same with the keyboard buttons.
    await page.get_by_role("button", name="Move Bravo up").click()
    await expect(rows.locator(".track-title")).to_have_text(["Charlie", "Bravo", "Alpha"])
    # Public toggle, rename; a reload shows what the server stored.
    await page.get_by_label("Public").check()
    await expect(page.locator("#toast")).to_have_text("The playlist is public.")
    await page.get_by_label("Name", exact=True).fill("Road trip 2")
    await page.get_by_role("button", name="Rename").click()
    await expect(page.get_by_role("heading", name="Road trip 2")).to_be_visible()
    await page.reload()
    await expect(rows.locator(".track-title")).to_have_text(["Charlie", "Bravo", "Alpha"])
    await expect(page.get_by_label("Public")).to_be_checked()
    await expect(page.get_by_role("heading", name="Road trip 2")).to_be_visible()
    w.assert_clean()
