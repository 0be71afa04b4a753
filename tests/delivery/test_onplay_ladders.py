"""``HS_SCAN_LADDERS=on-play``: scanned music is playable as soon as the scan has read it, and its ladder
is made when it is played — whole playlists from the first request, each segment when a player asks."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path
from urllib.parse import urljoin

import pytest
from aiohttp.test_utils import TestClient

from media.gapless import AAC_FRAME
from media.layout import INIT_SEGMENT, MASTER_PLAYLIST, MEDIA_PLAYLIST, segment_name
from media.onplay import DESCRIPTION, OnPlaySource
from server import keys
from server.catalog.scan_cli import run_scan
from server.settings import Settings
from tests.audio import make_audio
from tests.helpers import signed_in, wait_until


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, scan_ladders="on-play")


async def decode(url: str, *before_input: str) -> tuple[int, str]:
    """Decode ``url`` as a player would (without blocking the server in this loop): (samples, errors)."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", *before_input, "-i", url, "-map", "0:a:0",
        "-f", "s16le", "-ac", "1", "-",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return len(out) // 2, err.decode()


def _path(client: TestClient, url: str) -> str:
    """The path of a signed media URL, for the test client."""
    return "/" + url.removeprefix(str(client.make_url("/"))).lstrip("/")


async def _scanned(client: TestClient, tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    root = tmp_path / "music"
    for folder in ("a", "b"):
        (root / folder).mkdir(parents=True)
    make_audio(root / "a" / "long.flac", "flac", 20.0, tags={"title": "Long", "artist": "Band"})
    make_audio(root / "b" / "short.mp3", "mp3", 7.0, tags={"title": "Short", "artist": "Band"})
    summary = await run_scan(client.app[keys.SETTINGS], root, out=io.StringIO(), err=io.StringIO())
    assert (summary.added, summary.queued) == (2, 0)  # nothing to transcode ahead
    _, headers = await signed_in(client)  # a listener
    listing = await (await client.get("/api/v1/tracks?sort=title", headers=headers)).json()
    return headers, {t["title"]: t for t in listing["items"]}


async def test_scanned_music_plays_at_once_and_its_ladder_is_made_as_it_plays(
    client: TestClient, tmp_path: Path
) -> None:
    headers, tracks = await _scanned(client, tmp_path)
    # Visible to a listener and ready as soon as the scan ended: no job, no ladder yet.
    assert {t["status"] for t in tracks.values()} == {"ready"} and set(tracks) == {"Long", "Short"}
    assert await client.app[keys.DB]["jobs"].count_documents({}) == 0
    long_id = tracks["Long"]["id"]
    hls_dir = client.app[keys.SETTINGS].media_dir / "hls" / long_id
    assert not hls_dir.exists()

    # The player asks for its URLs: the ladder is prepared (whole playlists, init segments), no segment.
    urls = await (await client.get(f"/api/v1/tracks/{long_id}/media", headers=headers)).json()
    assert (hls_dir / MASTER_PLAYLIST).is_file() and (hls_dir / DESCRIPTION).is_file()
    plan = OnPlaySource.read(hls_dir).plan()
    assert not list(hls_dir.glob("*/seg_*"))
    assert {p.parent.name for p in hls_dir.glob(f"*/{INIT_SEGMENT}")} == {"64k", "128k", "256k"}

    # Played from the start: every segment of one rung is made, and the music is all there.
    played, errors = await decode(urljoin(urls["hls_url"], f"64k/{MEDIA_PLAYLIST}"))
    assert errors == "" and played == plan.frames * AAC_FRAME
    assert sorted(p.name for p in (hls_dir / "64k").glob("seg_*")) == [
        segment_name(i) for i in range(len(plan.segment_frames))
    ]
    assert not list((hls_dir / "256k").glob("seg_*"))  # only the rung asked for is made

    # A seek into a rung never played, as a player makes it: the init segment and the segment there,
    # made cold; the ones before it are not made.
    fetched = b""
    for name in (INIT_SEGMENT, segment_name(2)):
        resp = await client.get(_path(client, urljoin(urls["hls_url"], f"256k/{name}")))
        assert resp.status == 200 and resp.content_type == "audio/mp4"
        fetched += await resp.read()
    made = {p.name for p in (hls_dir / "256k").glob("seg_*")}
    assert segment_name(2) in made and segment_name(0) not in made
    (tmp_path / "seek.mp4").write_bytes(fetched)
    seeked, errors = await decode(str(tmp_path / "seek.mp4"))
    assert errors == "" and seeked == plan.segment_frames[2] * AAC_FRAME

    # The master playlist plays too (ffmpeg picks a variant), and a second start finds every file.
    played_again, errors = await decode(urls["hls_url"])
    assert errors == "" and played_again == played

    # Its loudness was measured in the background (the first play did not wait for it).
    async def measured() -> dict | None:
        track = await (await client.get(f"/api/v1/tracks/{long_id}", headers=headers)).json()
        return track["loudness"]

    loudness = await wait_until(measured, within=60, what="the loudness of a track made on play")
    assert loudness["integrated_lufs"] < 0 and loudness["track_gain_db"] is not None


async def test_a_subsonic_app_plays_a_track_made_on_play(client: TestClient, tmp_path: Path) -> None:
    from urllib.parse import urlencode

    from tests.subsonic.conftest import app_account, token_auth

    _, tracks = await _scanned(client, tmp_path)
    account = await app_account(client, "listener")
    query = urlencode({**token_auth(account), "v": "1.16.1", "c": "app", "id": tracks["Short"]["id"]})
    base = str(client.make_url("/rest"))
    # hls.m3u8 prepares the ladder and makes its segments as the app plays them; a plain stream sends
    # the original; one capped under the original's bitrate, or from an offset, gets a rung made now.
    for url, seconds in (
        (f"{base}/hls.m3u8?{query}&bitRate=64", 7.0),
        (f"{base}/stream.view?{query}", 7.0),
        (f"{base}/stream.view?{query}&maxBitRate=96", 7.0),
        (f"{base}/stream.view?{query}&timeOffset=6", 1.0),
    ):
        samples, errors = await decode(url)
        assert errors == "" and abs(samples / 44_100 - seconds) < 0.2, (url, samples / 44_100)
    capped = {
        **token_auth(account),
        "v": "1.16.1",
        "c": "app",
        "id": tracks["Short"]["id"],
        "maxBitRate": "96",
    }
    resp = await client.get("/rest/stream.view", params=capped)
    assert resp.content_type == "audio/mp4"  # the 64k rung, not the 192 kbit/s original
    assert int(resp.headers["Content-Length"]) * 8 / 7.0 < 96_000


async def test_a_segment_past_the_end_or_of_an_eager_ladder_stays_404(
    client: TestClient, tmp_path: Path
) -> None:
    headers, tracks = await _scanned(client, tmp_path)
    urls = await (await client.get(f"/api/v1/tracks/{tracks['Short']['id']}/media", headers=headers)).json()
    for path in (f"64k/{segment_name(99)}", f"999k/{segment_name(0)}", "64k/other.m4s"):
        resp = await client.get(_path(client, urljoin(urls["hls_url"], path)))
        assert resp.status == 404, path


async def test_admins_prepare_ladders_ahead_and_see_the_cache(client: TestClient, tmp_path: Path) -> None:
    headers, tracks = await _scanned(client, tmp_path)
    _, admin = await signed_in(client, "admin")
    hls = client.app[keys.SETTINGS].media_dir / "hls"
    resp = await client.post("/api/v1/ladders/prepare", json={}, headers=admin)
    assert resp.status == 202 and await resp.json() == {"queued": 2}

    async def prepared() -> bool:
        return all((hls / t["id"] / MASTER_PLAYLIST).is_file() for t in tracks.values())

    await wait_until(prepared, within=60, what="both ladders prepared in the background")
    assert not list(hls.glob("*/*/seg_*"))  # prepared, nothing made yet
    # A first play, then the cache's figures.
    urls = await (await client.get(f"/api/v1/tracks/{tracks['Short']['id']}/media", headers=headers)).json()
    played, _ = await decode(urljoin(urls["hls_url"], f"64k/{MEDIA_PLAYLIST}"))
    assert played > 0
    figures = await (await client.get("/api/v1/ladders", headers=admin)).json()
    made = list((hls / tracks["Short"]["id"] / "64k").glob("seg_*"))
    assert figures["enabled"] is True and figures["tracks"] == 1 and figures["tracks_evicted"] == 0
    assert figures["segments_made"] == len(made) and figures["bytes"] == sum(p.stat().st_size for p in made)
    assert figures["budget_bytes"] == client.app[keys.SETTINGS].ladder_cache_mb * 1024 * 1024
    resp = await client.get("/api/v1/ladders", headers=headers)
    assert resp.status == 403  # admins only


async def test_replaygain_tags_are_used_as_they_are(client: TestClient, tmp_path: Path) -> None:
    from mutagen.flac import FLAC

    root = tmp_path / "tagged"
    root.mkdir()
    path = make_audio(root / "gained.flac", "flac", 3.0, tags={"title": "Gained", "artist": "Band"})
    tags = FLAC(path)
    tags.update({"REPLAYGAIN_TRACK_GAIN": "-4.20 dB", "REPLAYGAIN_TRACK_PEAK": "0.5"})
    tags.save()
    await run_scan(client.app[keys.SETTINGS], root, out=io.StringIO(), err=io.StringIO())
    _, headers = await signed_in(client)
    (track,) = (await (await client.get("/api/v1/tracks", headers=headers)).json())["items"]
    # The file's figures from the scan on, before any play or analysis.
    assert track["loudness"]["track_gain_db"] == -4.2 and track["loudness"]["integrated_lufs"] == -13.8
    assert track["loudness"]["true_peak_dbtp"] == -6.02
    await client.get(f"/api/v1/tracks/{track['id']}/media", headers=headers)
    assert client.app[keys.ONPLAY].pending == 0  # nothing to measure
