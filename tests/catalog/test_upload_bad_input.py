"""Bad uploads: each gets a clear 4xx (or a track that ends failed with a reason), the server keeps
serving, and no file is left behind in the temp dir or the media store."""

from __future__ import annotations

import asyncio
import dataclasses
import struct

from mutagen.id3 import ID3, TALB, TCON, TIT2, TPE1, TRCK, TXXX

from server import keys
from server.app import create_app
from tests.audio import embed_cover, make_audio, make_garbage, make_jpeg
from tests.helpers import error_code, signed_in, upload_file, wait_for_track

BOUNDARY = "hs-test-boundary"


def leftovers(app) -> list:
    settings = app[keys.SETTINGS]
    tmp = list(settings.tmp_dir.iterdir()) if settings.tmp_dir.exists() else []
    originals = settings.media_dir / "originals"
    stored = list(originals.iterdir()) if originals.exists() else []
    return tmp + stored


async def still_serving(client) -> bool:
    return (await client.get("/healthz")).status == 200


def wav_header(seconds: int, rate: int = 44_100, channels: int = 2) -> bytes:
    data_len = rate * channels * 2 * seconds
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_len)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
        + b"data"
        + struct.pack("<I", data_len)
    )


def part_head(filename: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()


async def test_empty_file_is_422(client, tmp_path):
    _, h = await signed_in(client, "artist")
    status, body = await upload_file(client, h, make_garbage(tmp_path / "empty.mp3", "empty"))
    assert status == 422 and error_code(body) == "empty_file"
    assert leftovers(client.app) == [] and await still_serving(client)


async def test_text_renamed_mp3_is_415_with_the_reason(client, tmp_path):
    _, h = await signed_in(client, "artist")
    status, body = await upload_file(client, h, make_garbage(tmp_path / "diary.mp3", "text"))
    assert status == 415 and error_code(body) == "not_audio"
    assert "not" in body["error"]["details"]["reason"] and str(tmp_path) not in body["error"]["message"]
    assert leftovers(client.app) == [] and await still_serving(client)


async def test_truncated_mp3_is_accepted_as_far_as_it_decodes_or_fails_with_a_reason(client, tmp_path):
    _, h = await signed_in(client, "artist")
    whole = make_audio(tmp_path / "whole.mp3", "mp3", 6.0, tags={"title": "Half"})
    status, track = await upload_file(
        client, h, make_garbage(tmp_path / "half.mp3", "truncated", source=whole)
    )
    assert status == 202, track
    final = await wait_for_track(client, h, track["id"])
    if final["status"] == "failed":
        assert final["error"]
    else:
        assert final["status"] == "ready" and final["duration_ms"] < 4500
    assert await still_serving(client)


async def test_huge_and_garbage_tags_are_cleaned_and_capped(client, tmp_path):
    _, h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "tags.mp3", "mp3", 1.0)
    id3 = ID3(path)
    id3.add(TIT2(encoding=3, text="T" * 100_000))
    id3.add(TPE1(encoding=3, text="\u202e\x01 Evil\x07Artist \u200b"))
    id3.add(TALB(encoding=3, text=" \t "))
    id3.add(TCON(encoding=3, text="G" * 1000))
    id3.add(TRCK(encoding=3, text="-3"))
    id3.add(TXXX(encoding=3, desc="junk", text="\xff" * 1_000_000))
    id3.save(path)
    status, track = await upload_file(client, h, path)
    assert status == 202, track
    assert track["title"] == "T" * 200
    assert track["artist_name"] == "Evil Artist"
    assert track["album_id"] is None and track["genre"] == "G" * 64
    assert track["release_year"] is None and track["track_no"] is None


async def test_a_50_mb_embedded_cover_does_not_stop_the_upload(client, tmp_path):
    _, h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "cover.mp3", "mp3", 1.0, tags={"title": "Big Cover"})
    big = make_jpeg(32, 32)
    embed_cover(path, "mp3", big[:-2] + b"\x00" * (50 * 1024 * 1024) + big[-2:])
    status, track = await upload_file(client, h, path)
    assert status == 202, track
    assert track["title"] == "Big Cover"
    final = await wait_for_track(client, h, track["id"])
    assert final["status"] in ("ready", "failed") and (final["status"] == "ready" or final["error"])
    assert await still_serving(client)


async def test_a_two_hour_wav_is_refused_while_streaming(aiohttp_client, settings):
    """A 2-hour CD-quality WAV is 1.27 GB, over the cap: refused with 413 as soon as the cap is passed.

    The cap is lowered to 4 MB so that proving it costs 4 MB of traffic, not 500; the body is sent
    chunked (no Content-Length), so the server cannot refuse it up front and must count while streaming.
    """
    client = await aiohttp_client(create_app(dataclasses.replace(settings, max_upload_mb=4)))
    _, h = await signed_in(client, "artist")
    sent = 0

    async def body():
        nonlocal sent
        yield part_head("two hours.wav") + wav_header(7200)
        for _ in range(64):  # at most 16 MB; the server answers after 4
            sent += 256 * 1024
            yield bytes(256 * 1024)
            await asyncio.sleep(0)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    resp = await client.post(
        "/api/v1/tracks",
        data=body(),
        headers={**h, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert resp.status == 413 and error_code(await resp.json()) == "too_large"
    assert leftovers(client.app) == [] and await still_serving(client)


async def test_a_declared_length_over_the_cap_is_refused_before_reading(client):
    _, h = await signed_in(client, "artist")
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    declared = 7200 * 44_100 * 4 + 1000
    writer.write(
        (
            f"POST /api/v1/tracks HTTP/1.1\r\nHost: x\r\nAuthorization: {h['Authorization']}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n\r\n"
        ).encode()
        + part_head("long.wav")
        + wav_header(7200)
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"413"
    assert leftovers(client.app) == [] and await still_serving(client)


async def test_an_upload_cut_off_midway_leaves_nothing_behind(client):
    _, h = await signed_in(client, "artist")
    _, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        (
            f"POST /api/v1/tracks HTTP/1.1\r\nHost: x\r\nAuthorization: {h['Authorization']}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 10000000\r\n\r\n"
        ).encode()
        + part_head("cut.wav")
        + wav_header(60)
        + bytes(3 * 1024 * 1024)
    )
    await writer.drain()
    tmp_dir = client.app[keys.SETTINGS].tmp_dir
    for _ in range(100):  # the temp file appears while the body streams in
        if tmp_dir.exists() and list(tmp_dir.iterdir()):
            break
        await asyncio.sleep(0.05)
    assert list(tmp_dir.iterdir()), "the upload never started"
    writer.close()
    for _ in range(100):
        if not leftovers(client.app):
            break
        await asyncio.sleep(0.05)
    assert leftovers(client.app) == []
    assert await still_serving(client)
    resp = await client.get("/api/v1/tracks", headers=h)
    assert (await resp.json())["total"] == 0


async def test_a_5_mb_lyrics_tag_is_left_out_and_the_file_plays(client, tmp_path):
    """300,000 lines of lyrics in one ID3 frame: ffmpeg and mutagen parse such a frame in quadratic
    time (a minute of a core), so the frame is left unparsed - the upload answers 202 at once, the
    track plays, and the lyrics are simply not taken."""
    from mutagen.id3 import USLT

    _, h = await signed_in(client, "artist")
    path = make_audio(tmp_path / "wordy.mp3", "mp3", 2.0, tags={"title": "Wordy"})
    tags = ID3(path)
    tags.add(USLT(lang="eng", desc="", text="\n".join(f"line {i} la la la" for i in range(300_000))))
    tags.save()
    assert path.stat().st_size > 5_000_000
    status, track = await upload_file(client, h, path)
    assert status == 202, track
    final = await wait_for_track(client, h, track["id"])
    assert final["status"] == "ready" and final["title"] == "Wordy"
    assert (await client.get(f"/api/v1/tracks/{track['id']}/lyrics", headers=h)).status == 404
