"""``stream`` with ``maxBitRate``, ``format`` and ``timeOffset``: a rung of the ladder as one progressive
file, byte ranges across its pieces, and ffmpeg playing what an app would ask for."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from libopensonic import AsyncConnection

from server import keys
from tests.helpers import decoded_seconds, make_track, wait_for_track
from tests.subsonic.conftest import AppAccount, app_account, token_auth

SECONDS = 14.0


@pytest.fixture
async def song(client) -> dict:
    """A ready 14 s FLAC track (three segments of the ladder) and a listener's app password."""
    artist = await app_account(client, "artist")
    made = await make_track(client, artist.headers, "flac", seconds=SECONDS, fields={"title": "Long Hymn"})
    track = await wait_for_track(client, artist.headers, made["id"])
    return {"track": track, "listener": await app_account(client, "listener")}


def rung_bytes(client, track_id: str, rung: str, first_segment: int = 0) -> bytes:
    """The rung's init segment and its media segments from ``first_segment``, as they lie on disk."""
    layout = client.app[keys.DELIVERY].layout
    folder = layout.rung_dir(track_id, rung)
    names = [
        line
        for line in layout.media_playlist(track_id, rung).read_text().splitlines()
        if line.endswith(".m4s")
    ]
    return (folder / "init.mp4").read_bytes() + b"".join(
        (folder / n).read_bytes() for n in names[first_segment:]
    )


async def get_stream(client, listener: AppAccount, track_id: str, headers=None, **params):
    query = {**token_auth(listener), "v": "1.16.1", "c": "t", "id": track_id, **params}
    return await client.get("/rest/stream", params=query, headers=headers or {})


async def probe(data: bytes) -> dict:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_streams",
        "-show_format",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(data), timeout=60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_a_bitrate_or_a_format_gets_the_nearest_rung_and_raw_gets_the_original(client, song):
    listener, track = song["listener"], song["track"]
    original = await get_stream(client, listener, track["id"])
    assert original.content_type == "audio/flac" and (await original.read())[:4] == b"fLaC"
    # Asking for no less than the original is the original too.
    fits = await get_stream(client, listener, track["id"], maxBitRate=100_000)
    assert fits.content_type == "audio/flac"
    raw = await get_stream(client, listener, track["id"], format="raw", maxBitRate=64)
    assert raw.content_type == "audio/flac"

    cases = {
        "64k": {"maxBitRate": 100},  # highest rung under the limit
        "128k": {"maxBitRate": 128, "format": "mp3"},  # any format but raw is AAC
        "256k": {"format": "aac"},  # no limit: the top rung
    }
    for rung, params in cases.items():
        resp = await get_stream(client, listener, track["id"], estimateContentLength="true", **params)
        body = await resp.read()
        assert resp.status == 200 and resp.content_type == "audio/mp4", params
        expected = rung_bytes(client, track["id"], rung)
        assert body == expected and int(resp.headers["Content-Length"]) == len(expected), params
        (audio,) = (await probe(body))["streams"]
        assert audio["codec_name"] == "aac" and abs(await decoded_seconds(body) - SECONDS) < 0.3
    # Under the lowest rung: the lowest rung.
    low = await get_stream(client, listener, track["id"], maxBitRate=32)
    assert await low.read() == rung_bytes(client, track["id"], "64k")


async def test_ranges_span_the_pieces_and_if_range_guards_resumes(client, song):
    listener, track = song["listener"], song["track"]
    whole = rung_bytes(client, track["id"], "128k")
    init_size = len(rung_bytes(client, track["id"], "128k", first_segment=99))
    first = await get_stream(client, listener, track["id"], maxBitRate=128)
    etag = first.headers["ETag"]
    # A range across the end of the init segment and into the first media segment.
    span = f"bytes={init_size - 10}-{init_size + 9}"
    resp = await get_stream(client, listener, track["id"], {"Range": span}, maxBitRate=128)
    assert (
        resp.status == 206
        and resp.headers["Content-Range"] == f"bytes {init_size - 10}-{init_size + 9}/{len(whole)}"
    )
    assert await resp.read() == whole[init_size - 10 : init_size + 10]
    resp = await get_stream(client, listener, track["id"], {"Range": "bytes=-100"}, maxBitRate=128)
    assert resp.status == 206 and await resp.read() == whole[-100:]
    resp = await get_stream(
        client, listener, track["id"], {"Range": "bytes=5-", "If-Range": etag}, maxBitRate=128
    )
    assert resp.status == 206 and await resp.read() == whole[5:]
    resp = await get_stream(
        client, listener, track["id"], {"Range": "bytes=5-", "If-Range": '"other"'}, maxBitRate=128
    )
    assert resp.status == 200 and await resp.read() == whole
    resp = await get_stream(client, listener, track["id"], {"If-None-Match": etag}, maxBitRate=128)
    assert resp.status == 304
    resp = await get_stream(client, listener, track["id"], {"Range": f"bytes={len(whole)}-"}, maxBitRate=128)
    assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{len(whole)}"
    # Another rung is another representation: its validator differs.
    other = await get_stream(client, listener, track["id"], maxBitRate=64)
    assert other.headers["ETag"] != etag


async def test_a_time_offset_starts_at_the_segment_holding_it(client, song):
    listener, track = song["listener"], song["track"]
    resp = await get_stream(client, listener, track["id"], timeOffset=7)
    body = await resp.read()
    # The segment starting at 6 s holds 7 s: init, then the ladder's second segment on.
    assert resp.content_type == "audio/mp4" and body == rung_bytes(
        client, track["id"], "256k", first_segment=1
    )
    # Its fragments keep their place on the track's timeline: 6 s into the rung, which the edit list
    # shifts back by what it trims before the music (gapless).
    gapless = track["gapless"]
    trimmed = gapless["priming_samples"] / gapless["sample_rate"]
    assert abs(float((await probe(body))["format"]["start_time"]) - (6.0 - trimmed)) < 0.05
    assert abs(await decoded_seconds(body) - (SECONDS - 6.0)) < 0.3
    past = await get_stream(client, listener, track["id"], timeOffset=600)
    assert await past.read() == rung_bytes(client, track["id"], "256k", first_segment=99)
    bad = await get_stream(client, listener, track["id"], timeOffset="soon", f="json")
    # A parameter that is not valid is the client's to fix: code 10 (README, Changelog).
    assert (await bad.json())["subsonic-response"]["error"]["code"] == 10


async def test_ffmpeg_and_py_opensonic_play_a_capped_stream(client, song):
    listener, track = song["listener"], song["track"]
    query = {**token_auth(listener), "v": "1.16.1", "c": "ffmpeg", "id": track["id"], "maxBitRate": 64}
    url = f"{client.make_url('/rest/stream.view')}?{urlencode(query)}"
    assert abs(await decoded_seconds(url) - SECONDS) < 0.3
    conn = AsyncConnection(
        f"http://{client.server.host}", api_key=listener.app_password["api_key"], port=client.server.port
    )
    conn.use_get = True
    try:
        resp = await conn.stream(track["id"], max_bit_rate=128, tformat="mp3", estimate_length=True)
        body = await resp.read()
        assert resp.status == 200 and resp.content_type == "audio/mp4"
        assert body == rung_bytes(client, track["id"], "128k")
    finally:
        await conn.cleanup()
