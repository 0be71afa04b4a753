"""What an outside probe found behind ``/rest``: every answer well-formed XML, parameter errors as code
10, playlist texts cleaned and capped as on /api/v1, hidden tracks indistinguishable from missing ones,
and sign-in failures limited per address first without locking an account's owner out."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import Any

from aiohttp.test_utils import TestClient

from server import keys
from server.app import create_app
from tests.audio import make_garbage
from tests.helpers import save_processing_track
from tests.lane_server import LaneTestServer
from tests.subsonic.conftest import AppAccount, app_account, token_auth

NS = "{http://subsonic.org/restapi}"


async def rest_xml(
    client: TestClient, method: str, params: dict[str, Any], *, post: bool = False, headers=None
) -> ET.Element:
    """The XML answer of ``/rest/<method>``, parsed: ill-formed XML fails here."""
    query = {"v": "1.16.1", "c": "probe", **params}
    if post:
        resp = await client.post(f"/rest/{method}", data=query, headers=headers)
    else:
        resp = await client.get(f"/rest/{method}", params=query, headers=headers)
    text = await resp.text()
    assert resp.status == 200, text
    return ET.fromstring(text)


def error_of(root: ET.Element) -> tuple[int, str] | None:
    error = root.find(f"{NS}error")
    return None if error is None else (int(error.get("code", "-1")), error.get("message", ""))


async def test_control_characters_in_a_request_never_break_the_xml(client, library):
    listener: AppAccount = library["listener"]
    root = await rest_xml(client, "star", {**token_auth(listener), "id": "\x01<&>"})
    assert error_of(root)[0] == 70
    # An unknown method's name is echoed in the message: without its control character.
    resp = await client.get("/rest/%01bad", params={**token_auth(listener), "v": "1.16.1", "c": "p"})
    root = ET.fromstring(await resp.text())
    code, message = error_of(root)
    assert code == 70 and "bad" in message and "\x01" not in message


async def test_playlist_comments_are_cleaned_and_capped_as_on_the_web_api(client, library):
    listener: AppAccount = library["listener"]
    auth = token_auth(listener)
    created = await rest_xml(client, "createPlaylist", {**auth, "name": "Mine"})
    playlist_id = created.find(f"{NS}playlist").get("id")
    root = await rest_xml(
        client, "updatePlaylist", {**auth, "playlistId": playlist_id, "comment": "a\x01b\x02c"}
    )
    assert error_of(root) is None
    # Read back by its owner and, once public, by another user: well-formed, control characters gone.
    await rest_xml(client, "updatePlaylist", {**auth, "playlistId": playlist_id, "public": "true"})
    other = await app_account(client, "listener")
    reads = [
        (listener, "getPlaylists", {}),
        (listener, "getPlaylist", {"id": playlist_id}),
        (other, "getPlaylist", {"id": playlist_id}),
    ]
    for account, method, params in reads:
        root = await rest_xml(client, method, {**token_auth(account), **params})
        assert error_of(root) is None, (method, error_of(root))
        comments = [e.get("comment") for e in root.iter(f"{NS}playlist") if e.get("id") == playlist_id]
        assert comments == ["abc"], (method, comments)
    web = await client.get(f"/api/v1/playlists/{playlist_id}", headers=listener.headers)
    assert (await web.json())["description"] == "abc"

    huge = "x" * 900_000
    root = await rest_xml(
        client, "updatePlaylist", {**auth, "playlistId": playlist_id, "comment": huge}, post=True
    )
    code, message = error_of(root)
    assert code == 10 and "description" in message
    web = await client.get(f"/api/v1/playlists/{playlist_id}", headers=listener.headers)
    assert (await web.json())["description"] == "abc"


async def test_bad_parameters_are_code_10_not_a_server_error(client, library):
    listener: AppAccount = library["listener"]
    track_id = library["tracks"][0]["id"]
    auth = token_auth(listener)
    root = await rest_xml(client, "scrobble", {**auth, "id": track_id, "time": "99999999999999999"})
    assert error_of(root)[0] == 10
    root = await rest_xml(client, "scrobble", {**auth, "id": track_id, "time": "9" * 5000})
    assert error_of(root)[0] == 10
    root = await rest_xml(client, "search3", {**auth, "query": "q" * 5000})
    code, message = error_of(root)
    assert code == 10 and "Something went wrong" not in message
    root = await rest_xml(client, "getAlbumList2", {**auth, "type": "newest", "size": "many"})
    assert error_of(root)[0] == 10
    # A sane value still works.
    root = await rest_xml(client, "scrobble", {**auth, "id": track_id, "time": "1700000000000"})
    assert error_of(root) is None


async def test_hidden_tracks_answer_exactly_as_missing_ones(client, library, tmp_path):
    listener: AppAccount = library["listener"]
    artist: AppAccount = library["artist"]
    hidden = await save_processing_track(
        client.app[keys.SETTINGS],
        client.app[keys.DB],
        make_garbage(tmp_path / "unpublished.mp3", "text"),
        owner_id=artist.user["_id"],
    )
    auth = token_auth(listener)
    for method, extra in (("star", {}), ("unstar", {}), ("setRating", {"rating": "4"})):
        on_hidden = await rest_xml(client, method, {**auth, "id": hidden, **extra})
        on_missing = await rest_xml(client, method, {**auth, "id": "0" * len(hidden), **extra})
        assert error_of(on_hidden) == error_of(on_missing), method
        assert error_of(on_hidden)[0] == 70
    for name in ("albumId", "artistId"):
        root = await rest_xml(client, "star", {**auth, name: "x" * 2000})
        assert error_of(root)[0] == 70
    starred = await rest_xml(client, "getStarred2", auth)
    assert list(starred.find(f"{NS}starred2")) == []
    assert await client.app[keys.DB]["annotations"].count_documents({}) == 0
    # The owner may star their own unpublished track.
    root = await rest_xml(client, "star", {**token_auth(artist), "id": hidden})
    assert error_of(root) is None


async def limited(
    aiohttp_client, settings, *, per_ip: int, per_account: int
) -> tuple[TestClient, AppAccount]:
    """A server behind a trusted proxy (so tests choose client addresses) with these sign-in failure
    limits a minute, and a listener's app password on it."""
    limits = dataclasses.replace(
        settings.rate_limits, login_per_ip=(per_ip, 60), login_per_username=(per_account, 60)
    )
    app = create_app(dataclasses.replace(settings, trust_proxy=True, rate_limits=limits))
    client = await aiohttp_client(LaneTestServer(app))
    return client, await app_account(client, "listener")


async def test_wrong_api_keys_are_limited_per_address(aiohttp_client, settings):
    client, account = await limited(aiohttp_client, settings, per_ip=5, per_account=3)
    stranger = {"X-Forwarded-For": "203.0.113.7"}
    codes = []
    for i in range(8):
        root = await rest_xml(client, "ping", {"apiKey": f"wrong-{i}"}, headers=stranger)
        codes.append(error_of(root)[0])
    assert codes[:5] == [44] * 5 and set(codes[5:]) == {0}, codes
    # The address is refused even with a right key; the owner elsewhere is not.
    root = await rest_xml(client, "ping", {"apiKey": account.app_password["api_key"]}, headers=stranger)
    assert error_of(root)[0] == 0 and "Too many" in error_of(root)[1]
    owner = {"X-Forwarded-For": "198.51.100.2"}
    root = await rest_xml(client, "ping", {"apiKey": account.app_password["api_key"]}, headers=owner)
    assert error_of(root) is None


async def test_a_stranger_can_slow_an_account_but_not_lock_its_owner_out(aiohttp_client, settings):
    client, account = await limited(aiohttp_client, settings, per_ip=100, per_account=3)
    stranger = {"X-Forwarded-For": "203.0.113.9"}
    codes = []
    for _ in range(6):
        root = await rest_xml(client, "ping", {"u": account.username, "p": "guess"}, headers=stranger)
        codes.append(error_of(root)[0])
    assert codes == [40, 40, 40, 0, 0, 0]  # past the account's limit, its guesses are not even heard
    # Over the account's limit: the stranger's address is refused even with the right password...
    right = {"u": account.username, "p": account.password}
    root = await rest_xml(client, "ping", right, headers=stranger)
    assert error_of(root)[0] == 0 and "Too many" in error_of(root)[1]
    # ...while the owner, from an address that never failed, signs in with a password or a token.
    owner = {"X-Forwarded-For": "198.51.100.3"}
    assert error_of(await rest_xml(client, "ping", right, headers=owner)) is None
    assert error_of(await rest_xml(client, "ping", token_auth(account), headers=owner)) is None
