"""Gapless in the browser: an album cut from one continuous sweep plays in Chromium with no gap and no
click where one track gives way to the next. What the page plays is recorded through Web Audio
(tests/web/recording.py) and measured in the page."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import make_user
from tests.web.browser import open_page
from tests.web.helpers import sign_in, upload_album
from tests.web.recording import MUSIC, recording_context

RATE = 48_000
SECONDS = 6
EXPR = "0.5*sin(2*PI*(50*t+5*t*t))"  # 50 Hz rising 10 Hz a second: 230 Hz at the end

# Measured in the page: how long the music lasted, the longest near-silence inside it, and the largest
# sample-to-sample step anywhere in it (joins included).
MEASURE = (
    "() => {"
    + MUSIC
    + """
  let run = 0, longest = 0, step = 0;
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(x[i]) < 1e-3) { run++; longest = Math.max(longest, run); } else run = 0;
    if (i + 1 < x.length) step = Math.max(step, Math.abs(x[i + 1] - x[i]));
  }
  return { rate, seconds: x.length / rate, longestSilenceMs: (longest / rate) * 1000, step };
}
"""
)


def sweep_part(path: Path, start: int, end: int) -> Path:
    """Samples [start, end) of the sweep, as 24-bit FLAC."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"aevalsrc='{EXPR}|{EXPR}':s={RATE}:d={3 * SECONDS}",
         "-af", f"atrim=start_sample={start}:end_sample={end}",
         "-c:a", "flac", "-sample_fmt", "s32", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def test_an_album_plays_without_gaps_or_clicks(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    bounds = [0, SECONDS * RATE + 333, 2 * SECONDS * RATE + 777, 3 * SECONDS * RATE]
    parts = [sweep_part(tmp_path / f"part{k + 1}.flac", bounds[k], bounds[k + 1]) for k in range(3)]
    artist = await make_user(web_app, "artist")
    tracks = await upload_album(
        server, artist, "One Sweep", [(f"Part {k + 1}", p) for k, p in enumerate(parts)]
    )
    assert all(t["gapless"] for t in tracks), tracks

    listener = await make_user(web_app)
    w = await open_page(browser, server, context=await recording_context(browser, server))
    await sign_in(w.context, server, listener["username"])
    page = w.page
    await page.goto(f"/albums/{tracks[0]['album_id']}")
    await page.locator("#main").get_by_role("button", name="Play", exact=True).click()
    await expect(page.locator("#player-title")).to_have_text("Part 1")
    # The album is one timeline: the player moves on without reloading, and the last track ends it.
    await expect(page.locator("#player-title")).to_have_text("Part 3", timeout=30_000)
    await page.wait_for_function("() => document.getElementById('audio').ended", timeout=30_000)

    state = await page.evaluate("() => ({...window.__recorded, chunks: window.__recorded.chunks.length})")
    assert state.get("ready") and state["chunks"] > 0, state
    measured = await page.evaluate(MEASURE)
    # All of the music played, and nothing else (the recorder joins a few milliseconds after playback
    # starts: its worklet loads while the first samples play).
    assert 3 * SECONDS - 0.1 < measured["seconds"] < 3 * SECONDS + 0.01, measured
    # No gap: no run of silence over 2 ms anywhere inside the album.
    assert measured["longestSilenceMs"] < 2.0, measured
    # No click: no step anywhere, the joins included, beyond the sweep's own slope (2 pi f A / rate at
    # its top frequency; measured 1.03x of it here), with room for the coder's noise.
    own_slope = 2 * math.pi * 230 * 0.5 / measured["rate"]
    assert measured["step"] < 1.5 * own_slope, measured
    w.assert_clean()
