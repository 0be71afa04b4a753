"""The artist studio: drop several files, watch bytes go up, the transcode progress, then ready."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.audio import make_audio
from tests.helpers import make_user
from tests.services import MULTIKEY_EQUALITY
from tests.web.browser import open_page
from tests.web.helpers import sign_in

RECORD_STATUSES = """() => {
  window.__statuses = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('.upload-status')) {
      const last = window.__statuses[window.__statuses.length - 1];
      if (el.textContent !== last) window.__statuses.push(el.textContent);
    }
  }).observe(document.getElementById('main'), {subtree: true, childList: true, characterData: true});
}"""

DROP_FILE = """([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: 'audio/mpeg'}));
  const zone = document.getElementById('dropzone');
  zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
}"""


@pytest.mark.standin_deviation(reason=MULTIKEY_EQUALITY)
async def test_upload_in_studio_turns_ready(
    server: TestServer, web_app: web.Application, browser: Browser, tmp_path: Path
) -> None:
    artist = await make_user(web_app, "artist")
    first = make_audio(
        tmp_path / "dawn.mp3", "mp3", 6, tags={"title": "Dawn Chorus", "artist": "Lark", "album": "Mornings"}
    )
    second = make_audio(
        tmp_path / "dusk.mp3", "mp3", 5, tags={"title": "Dusk Song", "artist": "Lark", "album": "Mornings"}
    )
    w = await open_page(browser, server)
    await sign_in(w.context, server, artist["username"])
    page = w.page
    await page.goto("/studio")
    await expect(page.get_by_role("heading", name="Studio")).to_be_visible()
    await page.evaluate(RECORD_STATUSES)
    # One file dropped on the zone, one chosen with the file picker: both paths upload.
    await page.evaluate(DROP_FILE, ["dawn.mp3", base64.b64encode(first.read_bytes()).decode()])
    await page.locator("#file-input").set_input_files(str(second))

    uploads = page.locator(".upload")
    await expect(uploads).to_have_count(2)
    for name in ("dawn.mp3", "dusk.mp3"):
        row = page.locator(f'.upload[data-file="{name}"]')
        await expect(row).to_have_attribute("data-state", "ready", timeout=90_000)
        await expect(row.locator(".upload-status")).to_have_text("Ready")
    statuses = await page.evaluate("window.__statuses")
    assert any(s.startswith("Uploading") for s in statuses), statuses
    assert any(s.startswith("Transcoding") for s in statuses), statuses

    # Details come prefilled from the tags and can be edited.
    row = page.locator('.upload[data-file="dawn.mp3"]')
    title = row.get_by_label("Title")
    await expect(title).to_have_value("Dawn Chorus")
    await title.fill("Dawn Chorus (edit)")
    await row.get_by_label("Year").fill("2024")
    await row.get_by_role("button", name="Save").click()
    table = page.locator("table.data")
    await expect(table.get_by_role("cell", name="Dawn Chorus (edit)", exact=True)).to_be_visible()
    await expect(table.locator("tbody tr")).to_have_count(2)
    await expect(table.locator(".badge", has_text="ready")).to_have_count(2)
    w.assert_clean()
