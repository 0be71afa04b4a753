"""Gapless in the browser: an album cut from one continuous sweep plays in Chromium with no gap and no
click where one track gives way to the next. What the page plays is recorded through Web Audio (an
AudioWorklet tapped onto the player's own media element source) and measured here."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
from pathlib import Path

from aiohttp import ClientSession, FormData, web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import PASSWORD, make_user
from tests.web.browser import DESKTOP, open_page
from tests.web.helpers import sign_in

RATE = 48_000
SECONDS = 6
EXPR = "0.5*sin(2*PI*(50*t+5*t*t))"  # 50 Hz rising 10 Hz a second: 230 Hz at the end

RECORDER = """
class Recorder extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor('recorder', Recorder);
"""

# Before the app loads: every media element source the page makes is also fed to the recorder. (The
# worklet comes from a blob: URL, which the app's CSP does not allow for scripts: the test's browser
# context bypasses CSP; Playwright cannot route worklet requests.)
TAP = """
(() => {
  const RECORDER = %s;
  const make = AudioContext.prototype.createMediaElementSource;
  AudioContext.prototype.createMediaElementSource = function (element) {
    const source = make.call(this, element);
    const ctx = this;
    window.__recorded = { rate: ctx.sampleRate, chunks: [] };
    const code = new Blob([RECORDER], { type: 'text/javascript' });
    ctx.audioWorklet.addModule(URL.createObjectURL(code)).then(() => {
      const recorder = new AudioWorkletNode(ctx, 'recorder');
      recorder.port.onmessage = (e) => window.__recorded.chunks.push(e.data);
      const mute = ctx.createGain();
      mute.gain.value = 0;
      source.connect(recorder).connect(mute).connect(ctx.destination);
      window.__recorded.ready = true;
    }).catch((err) => { window.__recorded.error = String(err); });
    return source;
  };
})();
"""

# Measured in the page: how long the music lasted, the longest near-silence inside it, and the largest
# sample-to-sample step anywhere in it (joins included).
MEASURE = """
() => {
  const { rate, chunks } = window.__recorded;
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const x = new Float32Array(n);
  let k = 0;
  for (const c of chunks) { x.set(c, k); k += c.length; }
  let first = 0; while (first < n && Math.abs(x[first]) < 0.01) first++;
  let last = n - 1; while (last > first && Math.abs(x[last]) < 0.01) last--;
  let run = 0, longest = 0, step = 0;
  for (let i = first; i <= last; i++) {
    if (Math.abs(x[i]) < 1e-3) { run++; longest = Math.max(longest, run); } else run = 0;
    if (i < last) step = Math.max(step, Math.abs(x[i + 1] - x[i]));
  }
  return { rate, seconds: (last - first + 1) / rate, longestSilenceMs: (longest / rate) * 1000, step };
}
"""


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


async def upload_album(server: TestServer, artist: dict, parts: list[Path]) -> list[dict]:
    base = str(server.make_url("/")).rstrip("/")
    async with ClientSession() as http:
        login = {"username": artist["username"], "password": PASSWORD}
        tokens = await (await http.post(base + "/api/v1/auth/login", json=login)).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        ids = []
        for no, path in enumerate(parts, start=1):
            form = FormData()
            for name, value in {"title": f"Part {no}", "album": "One Sweep", "track_no": str(no)}.items():
                form.add_field(name, value)
            form.add_field("file", path.read_bytes(), filename=path.name, content_type="audio/flac")
            resp = await http.post(base + "/api/v1/tracks", data=form, headers=auth)
            assert resp.status == 202, await resp.text()
            ids.append((await resp.json())["id"])
        tracks = []
        for track_id in ids:
            for _ in range(240):
                track = await (await http.get(f"{base}/api/v1/tracks/{track_id}", headers=auth)).json()
                if track["status"] != "processing" and track["loudness"].get("album_gain_db") is not None:
                    break
                await asyncio.sleep(0.5)
            assert track["status"] == "ready" and track["gapless"], track
            tracks.append(track)
    return tracks


async def test_an_album_plays_without_gaps_or_clicks(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    bounds = [0, SECONDS * RATE + 333, 2 * SECONDS * RATE + 777, 3 * SECONDS * RATE]
    parts = [sweep_part(tmp_path / f"part{k + 1}.flac", bounds[k], bounds[k + 1]) for k in range(3)]
    artist = await make_user(web_app, "artist")
    tracks = await upload_album(server, artist, parts)

    listener = await make_user(web_app)
    context = await browser.new_context(
        viewport=DESKTOP, base_url=str(server.make_url("/")).rstrip("/"), bypass_csp=True
    )
    w = await open_page(browser, server, context=context)
    await sign_in(w.context, server, listener["username"])
    page = w.page
    await page.add_init_script(TAP % json.dumps(RECORDER))
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
