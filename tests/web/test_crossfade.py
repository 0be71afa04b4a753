"""Crossfade in the browser: with the setting at 4 s, the last seconds of one track and the first of the
next sound together, the one fading out as the other fades in. Two tones (440 Hz, then 660 Hz) make it
measurable: the page's output is recorded through Web Audio and each tone's level followed in 50 ms
windows."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import make_user
from tests.web.browser import open_page
from tests.web.helpers import sign_in, upload_album
from tests.web.recording import MUSIC, recording_context

SECONDS = 8
FADE = 4

# Per 50 ms window, each tone's amplitude (Goertzel); the time both are above a tenth of their full level
# (ffmpeg's sine source plays at 1/8).
MEASURE = (
    "() => {"
    + MUSIC
    + """
  const size = Math.round(rate * 0.05);
  const amplitude = (from, f) => {
    const w = 2 * Math.PI * f / rate, c = 2 * Math.cos(w);
    let s1 = 0, s2 = 0;
    for (let i = from; i < from + size; i++) { const s0 = x[i] + c * s1 - s2; s2 = s1; s1 = s0; }
    return 2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2)) / size;
  };
  let both = 0, low = 0, high = 0;
  for (let from = 0; from + size <= x.length; from += size) {
    const a = amplitude(from, 440) > 0.0125, b = amplitude(from, 660) > 0.0125;
    if (a && b) both++;
    if (a) low++;
    if (b) high++;
  }
  return { seconds: x.length / rate, both: both * 0.05, low: low * 0.05, high: high * 0.05 };
}
"""
)


def tone(path: Path, hz: int) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"sine=frequency={hz}:sample_rate=44100:duration={SECONDS}",
         "-af", "aformat=channel_layouts=stereo", "-c:a", "flac", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def test_tracks_fade_into_each_other(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    tones = [(f"Tone {hz}", tone(tmp_path / f"{hz}.flac", hz)) for hz in (440, 660)]
    (track, _) = await upload_album(server, artist, "Two Tones", tones)

    listener = await make_user(web_app)
    w = await open_page(browser, server, context=await recording_context(browser, server))
    await sign_in(w.context, server, listener["username"])
    page = w.page
    await page.goto(f"/albums/{track['album_id']}")
    await page.get_by_label("Crossfade").select_option(str(FADE))
    await page.locator("#main").get_by_role("button", name="Play", exact=True).click()
    await expect(page.locator("#player-title")).to_have_text("Tone 440")
    await expect(page.locator("#player-title")).to_have_text("Tone 660", timeout=20_000)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#player audio')].every((a) => a.paused)", timeout=20_000
    )

    measured = await page.evaluate(MEASURE)
    # The tones overlap for most of the fade (each is above a tenth of its level for 90 % of a linear
    # fade), and the album is shorter by the overlap.
    assert 0.6 * FADE <= measured["both"] <= FADE + 0.2, measured
    assert abs(measured["seconds"] - (2 * SECONDS - FADE)) < 0.5, measured
    assert measured["low"] > SECONDS - 1 and measured["high"] > SECONDS - 1, measured
    assert await page.evaluate("() => localStorage.getItem('hs-crossfade')") == str(FADE)
    w.assert_clean()
