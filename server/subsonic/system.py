"""System methods: ``ping``, ``getLicense``, ``getOpenSubsonicExtensions``, ``getUser``,
``getMusicFolders``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from media.records import User
from server import keys
from server.errors import AppError
from server.subsonic.auth import Caller
from server.subsonic.protocol import Generic, NotAuthorized, NotFound, Params

MUSIC_FOLDER_ID = 1
"""The whole catalog is one music folder."""

EXTENSIONS = [
    # Only what the server really does.
    {"name": "formPost", "versions": [1]},
    {"name": "apiKeyAuthentication", "versions": [1]},
    {"name": "songLyrics", "versions": [1]},
]


async def ping(request: web.Request, params: Params, caller: Caller | None) -> None:
    return None


async def get_license(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    return {"license": {"valid": True}}


async def get_extensions(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    return {"openSubsonicExtensions": EXTENSIONS}


async def get_user(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    assert caller is not None
    username = params.required("username")
    if username.lower() != caller.user.username.lower() and not caller.user.is_admin:
        raise NotAuthorized("Only admins may read other users.")
    user = caller.user
    if username.lower() != user.username.lower():
        found = await request.app[keys.USERS].find_by_login(username)
        if found is None:
            raise NotFound("No such user.")
        user = found
    return {"user": user_element(user)}


def user_element(user: User) -> dict[str, Any]:
    """A ``user`` of the protocol: its roles as the Subsonic role flags they amount to here."""
    artist = "artist" in user.roles or user.is_admin
    return {
        "username": user.username,
        "email": user.email,
        "scrobblingEnabled": True,
        "adminRole": user.is_admin,
        "settingsRole": True,
        "downloadRole": True,
        "uploadRole": artist,
        "playlistRole": True,
        "coverArtRole": artist,
        "commentRole": False,
        "podcastRole": False,
        "streamRole": True,
        "jukeboxRole": False,
        "shareRole": False,
        "videoConversionRole": False,
        "folder": [MUSIC_FOLDER_ID],
    }


async def get_music_folders(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    return {"musicFolders": {"musicFolder": [{"id": MUSIC_FOLDER_ID, "name": "Music"}]}}


def _scans_key(request: web.Request) -> str:
    return f"{request.app[keys.SETTINGS].redis_prefix}subsonic:scans"


async def start_scan(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    """Scan every library folder (``HS_LIBRARY_FOLDERS``): the protocol names no folder. Admins only."""
    assert caller is not None
    roots = request.app[keys.SETTINGS].scan_roots
    if not roots:
        raise Generic("No library folders are configured (HS_LIBRARY_FOLDERS): nothing to scan.")
    runner = request.app[keys.SCANS]
    ids = [(await runner.start(str(root), caller.user.id)).id for root in roots]
    await request.app[keys.REDIS].set(_scans_key(request), json.dumps(ids), ex=7 * 86400)
    return await get_scan_status(request, params, caller)


async def get_scan_status(request: web.Request, params: Params, caller: Caller | None) -> dict[str, Any]:
    raw = await request.app[keys.REDIS].get(_scans_key(request))
    scanning, count = False, 0
    for scan_id in json.loads(raw) if raw else []:
        try:
            state = await request.app[keys.SCANS].get(scan_id)
        except AppError:
            continue  # expired
        scanning = scanning or state.state in ("queued", "running")
        count += state.done
    return {"scanStatus": {"scanning": scanning, "count": count}}
