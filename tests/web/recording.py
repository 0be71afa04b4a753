"""Recording what a page plays, through Web Audio: every media element source the page makes is also fed
to an AudioWorklet that posts its samples back (channel 0), summed when several play at once.

The worklet comes from a blob: URL, which the app's CSP does not allow for scripts, so the browser
context of a recording test bypasses CSP (Playwright cannot route worklet requests). The recorder joins
a few milliseconds after the first source starts: its worklet loads while the first samples play.
"""

from __future__ import annotations

import json

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext

from tests.web.browser import DESKTOP

_RECORDER = """
class Recorder extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor('recorder', Recorder);
"""

_TAP = """
(() => {
  const code = RECORDER_CODE;
  const make = AudioContext.prototype.createMediaElementSource;
  AudioContext.prototype.createMediaElementSource = function (element) {
    const source = make.call(this, element);
    const ctx = this;
    if (!ctx.__recorder) {
      window.__recorded = { rate: ctx.sampleRate, chunks: [] };
      const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
      ctx.__recorder = ctx.audioWorklet.addModule(url).then(() => {
        const recorder = new AudioWorkletNode(ctx, 'recorder');
        recorder.port.onmessage = (e) => window.__recorded.chunks.push(e.data);
        const mute = ctx.createGain();
        mute.gain.value = 0;
        recorder.connect(mute).connect(ctx.destination);
        window.__recorded.ready = true;
        return recorder;
      }).catch((err) => { window.__recorded.error = String(err); });
    }
    ctx.__recorder.then((recorder) => recorder && source.connect(recorder));
    return source;
  };
})();
"""
TAP = _TAP.replace("RECORDER_CODE", json.dumps(_RECORDER))

MUSIC = """
  const { rate, chunks } = window.__recorded;
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  let first = 0; while (first < total && Math.abs(all[first]) < 0.01) first++;
  let last = total - 1; while (last > first && Math.abs(all[last]) < 0.01) last--;
  const x = all.subarray(first, last + 1);
"""
"""JS statements for the body of a measuring function: ``rate`` and ``x``, the recorded samples from the
first to the last one that is not near silence (the music)."""


async def recording_context(browser: Browser, server: TestServer) -> BrowserContext:
    """A browser context whose pages record what they play (read ``window.__recorded``)."""
    context = await browser.new_context(
        viewport=DESKTOP, base_url=str(server.make_url("/")).rstrip("/"), bypass_csp=True
    )
    await context.add_init_script(TAP)
    return context
