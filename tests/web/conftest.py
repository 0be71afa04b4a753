"""End-to-end fixtures: the app on a loopback port (in-process, with its own transcoder) and Chromium.

Debian's Chromium is driven through Playwright; Playwright never downloads a browser of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from server.app import create_app
from server.settings import Settings
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """The test settings, transcoding in-process (one job at a time: the machine is small)."""
    return dataclasses.replace(settings, inprocess_worker=True, worker_concurrency=1)


@pytest.fixture
def web_app(web_settings: Settings) -> web.Application:
    return create_app(web_settings)


@pytest.fixture
async def server(aiohttp_server, web_app: web.Application) -> TestServer:
    return await aiohttp_server(web_app, host="127.0.0.1")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
