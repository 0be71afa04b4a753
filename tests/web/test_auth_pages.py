"""Sign up, sign out and sign in again through the web app; the pages load cleanly."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.helpers import PASSWORD
from tests.web.browser import open_page


async def test_sign_up_then_log_in(server: TestServer, browser: Browser) -> None:
    w = await open_page(browser, server)
    page = w.page
    await page.goto("/")
    await expect(page).to_have_url("/login")  # signed out: the app asks to sign in
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Username").fill("newlistener")
    await page.get_by_label("Email").fill("newlistener@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", name="Welcome, newlistener")).to_be_visible()
    # The session lives in an HttpOnly cookie; nothing is kept in localStorage but preferences.
    cookies = {c["name"]: c for c in await w.context.cookies()}
    assert cookies["hs_session"]["httpOnly"] is True
    stored = await page.evaluate("Object.keys(localStorage)")
    assert not [k for k in stored if "token" in k.lower()]

    # Leaving while the home page still loads would abort its requests: let it finish first.
    await expect(page.locator(".loading")).to_have_count(0)
    await w.api_settled()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url("/login")
    await page.get_by_label("Username or email").fill("newlistener")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Welcome, newlistener")).to_be_visible()
    await expect(page.locator(".loading")).to_have_count(0)
    await w.api_settled()  # the player fetches its state once the socket connects
    # A reload keeps the session (server-rendered shell + GET /auth/session).
    await page.reload()
    await expect(page.get_by_role("heading", name="Welcome, newlistener")).to_be_visible()
    await expect(page.locator(".loading")).to_have_count(0)
    w.assert_clean()


async def test_wrong_password_is_reported(server: TestServer, browser: Browser) -> None:
    w = await open_page(browser, server)
    w.allowed.add("/api/v1/auth/session")  # the refused sign-in is the point of this test
    page = w.page
    await page.goto("/login")
    await page.get_by_label("Username or email").fill("nobody")
    await page.get_by_label("Password").fill("wrong password here")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).not_to_be_empty()
    await expect(page).to_have_url("/login")
    w.assert_clean()
