"""The Apps page: make an app password, use it from a Subsonic client, revoke it."""

from __future__ import annotations

import asyncio

import libsonic
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import make_user
from tests.web.browser import open_page
from tests.web.helpers import sign_in


async def test_make_use_and_revoke_an_app_password(
    server: TestServer, web_app: web.Application, browser: Browser
) -> None:
    user = await make_user(web_app)
    w = await open_page(browser, server)
    await sign_in(w.context, server, user["username"])
    page = w.page
    await page.goto("/")
    await page.get_by_role("link", name="Apps").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Apps")
    await expect(page.locator("#app-server")).to_have_text(str(server.make_url("")).rstrip("/"))
    await page.get_by_label("New app password for").fill("Phone")
    await page.get_by_role("button", name="Make").click()
    password = await page.locator("#app-password").text_content()
    assert password and len(password) >= 20
    await expect(page.locator("#app-api-key")).not_to_be_empty()
    await expect(page.locator("li[data-app-password-id]")).to_have_count(1)

    conn = libsonic.Connection(
        f"http://{server.host}", user["username"], password, port=server.port, serverPath="rest"
    )
    assert await asyncio.to_thread(conn.ping) is True

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Revoke Phone").click()
    await expect(page.locator("li[data-app-password-id]")).to_have_count(0)
    with pytest.raises(libsonic.errors.CredentialError):
        await asyncio.to_thread(conn.getLicense)
    await w.api_settled()
    w.assert_clean()
