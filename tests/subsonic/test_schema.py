"""XML answers checked element by element against the rules of the Subsonic schema (as published with
Subsonic/Airsonic: which attributes each type has, which are required, of what XML Schema type), and
the same call in XML and JSON carrying the same data.

Only the types we return are described here, in our own words; OpenSubsonic additions (``mediaType``,
``genres``…) are allowed beside them, as the OpenSubsonic spec allows.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from aiohttp.test_utils import TestClient

from tests.subsonic.conftest import AppAccount, token_auth

NS = "{http://subsonic.org/restapi}"
INT, LONG, BOOL, DATETIME, STR = "int", "long", "boolean", "dateTime", "string"
CHILD = {
    "id": (STR, True),
    "parent": (STR, False),
    "isDir": (BOOL, True),
    "title": (STR, True),
    "album": (STR, False),
    "artist": (STR, False),
    "track": (INT, False),
    "year": (INT, False),
    "genre": (STR, False),
    "coverArt": (STR, False),
    "size": (LONG, False),
    "contentType": (STR, False),
    "suffix": (STR, False),
    "duration": (INT, False),
    "bitRate": (INT, False),
    "playCount": (LONG, False),
    "created": (DATETIME, False),
    "albumId": (STR, False),
    "artistId": (STR, False),
    "type": (STR, False),
    "starred": (DATETIME, False),
    "isVideo": (BOOL, False),
}
ALBUM_ID3 = {
    "id": (STR, True),
    "name": (STR, True),
    "artist": (STR, False),
    "artistId": (STR, False),
    "coverArt": (STR, False),
    "songCount": (INT, True),
    "duration": (INT, True),
    "playCount": (LONG, False),
    "created": (DATETIME, True),
    "year": (INT, False),
    "genre": (STR, False),
    "starred": (DATETIME, False),
}
ARTIST_ID3 = {
    "id": (STR, True),
    "name": (STR, True),
    "albumCount": (INT, False),
    "starred": (DATETIME, False),
}
PLAYLIST = {
    "id": (STR, True),
    "name": (STR, True),
    "comment": (STR, False),
    "owner": (STR, False),
    "public": (BOOL, False),
    "songCount": (INT, True),
    "duration": (INT, True),
    "created": (DATETIME, True),
    "changed": (DATETIME, True),
}
RULES: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {
    ("album", "getAlbum"): {**ALBUM_ID3},
    ("song", "getAlbum"): CHILD,
    ("song", "getSong"): CHILD,
    ("song", "search3"): CHILD,
    ("song", "getRandomSongs"): CHILD,
    ("song", "getStarred2"): CHILD,
    ("album", "search3"): ALBUM_ID3,
    ("album", "getArtist"): ALBUM_ID3,
    ("album", "getAlbumList2"): ALBUM_ID3,
    ("album", "getStarred2"): ALBUM_ID3,
    ("artist", "getArtist"): ARTIST_ID3,
    ("artist", "getArtists"): ARTIST_ID3,
    ("artist", "search3"): ARTIST_ID3,
    ("playlist", "getPlaylists"): PLAYLIST,
    ("playlist", "getPlaylist"): PLAYLIST,
    ("entry", "getPlaylist"): CHILD,
    ("genre", "getGenres"): {"songCount": (INT, True), "albumCount": (INT, True)},
    ("musicFolder", "getMusicFolders"): {"id": (INT, True), "name": (STR, False)},
    ("license", "getLicense"): {"valid": (BOOL, True)},
}
PATTERNS = {
    INT: r"-?\d+",
    LONG: r"-?\d+",
    BOOL: r"true|false",
    DATETIME: r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
    STR: r".*",
}


def _check(element: ET.Element, method: str, seen: set[str]) -> None:
    tag = element.tag.removeprefix(NS)
    rules = RULES.get((tag, method))
    if rules is not None:
        seen.add(tag)
        for name, (kind, required) in rules.items():
            value = element.get(name)
            if value is None:
                assert not required, f"{method}: <{tag}> lacks {name}"
                continue
            assert re.fullmatch(PATTERNS[kind], value), f"{method}: <{tag} {name}={value!r}> is not {kind}"
    for child in element:
        _check(child, method, seen)


def _as_json(element: ET.Element) -> Any:
    """The JSON the OpenSubsonic mapping gives an element (attributes typed as the JSON has them)."""
    out: dict[str, Any] = dict(element.attrib)
    if element.text and element.text.strip():
        out["value"] = element.text
    for child in element:
        text = (child.text or "").strip()
        value = text if text and not len(child) and not child.attrib else _as_json(child)
        out.setdefault(child.tag.removeprefix(NS), []).append(value)
    return out


def _normalise(value: Any) -> Any:
    """JSON values as their XML text, lists of one kept as lists: what both formats must agree on."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _listify(json_value: Any, xml_value: Any) -> Any:
    """Align JSON's single objects with XML's repeated elements (both read as lists)."""
    if isinstance(xml_value, dict) and isinstance(json_value, dict):
        return {k: _listify(json_value.get(k), xml_value[k]) for k in xml_value}
    if isinstance(xml_value, list):
        items = json_value if isinstance(json_value, list) else [json_value]
        return [_listify(j, x) for j, x in zip(items, xml_value, strict=False)]
    return json_value


async def test_xml_answers_follow_the_schema_and_match_json(client: TestClient, library):
    listener: AppAccount = library["listener"]
    auth = token_auth(listener)
    first = library["tracks"][0]["id"]
    resp = await client.get(
        "/rest/createPlaylist", params={**auth, "name": "Mix", "songId": first, "f": "json"}
    )
    playlist_id = (await resp.json())["subsonic-response"]["playlist"]["id"]
    await client.get("/rest/star", params={**auth, "id": first, "albumId": library["album_id"]})
    calls = {
        "getAlbum": {"id": library["album_id"]},
        "getSong": {"id": first},
        "getArtist": {"id": library["artist_id"]},
        "getArtists": {},
        "search3": {"query": "dawn"},
        "getRandomSongs": {},
        "getAlbumList2": {"type": "newest"},
        "getStarred2": {},
        "getPlaylists": {},
        "getPlaylist": {"id": playlist_id},
        "getGenres": {},
        "getMusicFolders": {},
        "getLicense": {},
    }
    seen: set[str] = set()
    for method, params in calls.items():
        xml_resp = await client.get(f"/rest/{method}", params={**auth, **params})
        root = ET.fromstring(await xml_resp.text())
        assert root.get("status") == "ok", (method, await xml_resp.text())
        _check(root, method, seen)
        if method == "getRandomSongs":
            continue  # two calls, two draws: nothing to compare
        json_resp = await client.get(f"/rest/{method}", params={**auth, **params, "f": "json"})
        body = (await json_resp.json())["subsonic-response"]
        from_xml = _as_json(root)
        for key in [
            k
            for k in from_xml
            if k not in ("status", "version", "type", "serverVersion", "openSubsonic", "xmlns")
        ]:
            assert _normalise(_listify(body[key], from_xml[key])) == from_xml[key], method
    assert seen >= {"album", "song", "artist", "playlist", "entry", "musicFolder", "license"}
