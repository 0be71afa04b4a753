"""Uploads and scans read only what they were given (the input policy of media/ffmpeg.py).

A canary - another artist's stored original, a 1234 Hz tone - sits where an attacker can name it. Every
trick that once made ffmpeg open it (an HLS playlist naming its path or a file:// URL, a DASH manifest
whose BaseURL points at it, an ffconcat list, protocol-looking names, a link in a library folder) is
sent through the HTTP upload and through a scan: each is refused (415 ``not_audio``, a skipped file, a
track that ends ``failed``), or - a polyglot that also carries audio of its own - plays its own
silence. The canary's tone never comes out of any track but its own.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import aiohttp
import pytest

from server import keys
from server.catalog.scan_cli import run_scan
from tests.audio import tone_share
from tests.helpers import decoded_pcm, error_code, signed_in, upload_file, wait_for_track

CANARY_HZ = 1234


def _ffmpeg(*args: str) -> bytes:
    argv = ["ffmpeg", "-nostdin", "-v", "error", *args]
    return subprocess.run(argv, check=True, capture_output=True, timeout=60).stdout


def silent_mp3() -> bytes:
    return _ffmpeg(
        "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo:d=2", "-c:a", "libmp3lame", "-f", "mp3", "-"
    )


def tricks(canary: Path) -> dict[str, bytes]:
    """name -> content of every file that tries to make ffmpeg read ``canary``."""
    hls = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:5.0,\n{canary}\n#EXT-X-ENDLIST\n"
    mpd = (
        '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT5S" minBufferTime="PT1S" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet mimeType="audio/mp4">'
        f'<Representation id="a" bandwidth="128000" codecs="mp4a.40.2"><BaseURL>file://{canary}</BaseURL>'
        "</Representation></AdaptationSet></Period></MPD>\n"
    )
    id3 = b"ID3\x03\x00\x00\x00\x00\x00\x00"  # an empty ID3v2 tag in front of the playlist
    return {
        "hls-path.mp3": hls.encode(),
        "hls-url.mp3": hls.replace(str(canary), f"file://{canary}").encode(),
        "dash.mp3": mpd.encode(),
        "ffconcat.mp3": f"ffconcat version 1.0\nfile '{canary}'\n".encode(),
        "id3-then-hls.mp3": id3 + hls.encode(),
        # A playlist with real (silent) MPEG audio after it: mutagen and a scan take it as an MP3.
        "polyglot.mp3": hls.encode() + silent_mp3(),
        f"concat:{canary.name}|{canary.name}.mp3": b"not audio\n" * 50,
        f"subfile,,start,0,end,0,,:{canary.name}.mp3": b"not audio\n" * 50,
    }


@pytest.fixture
async def canary(client) -> tuple[Path, dict[str, str]]:
    """Another artist's upload, a pure 1234 Hz tone: (its stored original, that artist's headers)."""
    _, owner = await signed_in(client, "artist")
    folder = client.app[keys.SETTINGS].data_dir / "generated"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "canary.m4a"
    _ffmpeg("-f", "lavfi", "-i", f"sine=f={CANARY_HZ}:d=6", "-c:a", "aac", "-y", str(source))
    status, track = await upload_file(client, owner, source)
    assert status == 202, track
    assert (await wait_for_track(client, owner, track["id"]))["status"] == "ready"
    stored = client.app[keys.CATALOG].layout.find_original(track["id"])
    assert stored is not None and stored.is_file()
    # The canary really is what the check below listens for.
    pcm = await decoded_pcm(str(stored))
    assert tone_share(pcm, CANARY_HZ) > 0.9
    return stored, owner


async def canary_in(client, headers: dict[str, str], track_id: str) -> float:
    """Share of the canary's tone in what the track plays (through its signed HLS URL, as a player)."""
    resp = await client.get(f"/api/v1/tracks/{track_id}/media", headers=headers)
    assert resp.status == 200, await resp.text()
    pcm = await decoded_pcm((await resp.json())["hls_url"])
    return tone_share(pcm, CANARY_HZ)


async def played_without_canary(client, headers: dict[str, str], track_id: str, name: str) -> bool:
    """Wait for the track to settle: False when it failed (with a reason), True when it is ready - and
    then it must not play the canary."""
    final = await wait_for_track(client, headers, track_id)
    if final["status"] == "failed":
        assert final["error"], name
        return False
    assert final["status"] == "ready", (name, final)
    assert await canary_in(client, headers, track_id) < 0.01, f"{name} played the canary"
    return True


async def test_uploads_that_name_other_files_are_refused(client, canary, tmp_path):
    stored, _ = canary
    _, attacker = await signed_in(client, "artist")
    refused, played = [], []
    for name, content in tricks(stored).items():
        path = tmp_path / "upload.bin"
        path.write_bytes(content)
        status, body = await upload_file(client, attacker, path, filename=name)
        if status == 415:
            assert error_code(body) == "not_audio", (name, body)
            refused.append(name)
            continue
        assert status == 202, (name, status, body)
        if await played_without_canary(client, attacker, body["id"], name):
            played.append(name)
    # Everything but the polyglot is refused outright; the polyglot plays its own silence.
    assert played == ["polyglot.mp3"]
    assert set(refused) == set(tricks(stored)) - {"polyglot.mp3"}


async def test_a_scan_reads_no_file_it_was_not_given(client, canary, tmp_path):
    stored, _ = canary
    settings = client.app[keys.SETTINGS]
    root = tmp_path / "music"
    (root / "inside").mkdir(parents=True)
    for name, content in tricks(stored).items():
        (root / name).write_bytes(content)
    (root / "link-out.m4a").symlink_to(stored)  # a file link leading out of the scanned folder
    own = root / "inside" / "own.mp3"
    own.write_bytes(silent_mp3())
    (root / "link-in.mp3").symlink_to(own)  # a link that stays inside is fine

    out = io.StringIO()
    summary = await run_scan(settings, root, out=out, err=io.StringIO())
    skipped = {os.path.basename(path): reason for path, reason in summary.skipped}
    assert skipped["link-out.m4a"] == "a link to a file outside the scanned folder"
    assert "link-out.m4a" in out.getvalue()
    assert "link-in.mp3" not in skipped and "own.mp3" not in skipped

    _, admin = await signed_in(client, "admin")
    resp = await client.get("/api/v1/tracks", params={"limit": 100}, headers=admin)
    scanned = [t for t in (await resp.json())["items"] if t["source"] == "scan"]
    played = []
    for track in scanned:
        doc = await client.app[keys.TRACKS].get(track["id"])
        name = os.path.basename(doc.original.path)
        if await played_without_canary(client, admin, track["id"], name):
            played.append(name)
    assert "link-out.m4a" not in played
    assert {"own.mp3", "link-in.mp3"} <= set(played)
    assert set(played) <= {"own.mp3", "link-in.mp3", "polyglot.mp3"}
    # A second scan says so again: the link is never imported, so nothing vouches for it.
    again = await run_scan(settings, root, out=io.StringIO(), err=io.StringIO())
    assert "link-out.m4a" in {os.path.basename(path) for path, _ in again.skipped}


async def test_the_tone_check_hears_the_canary(client, canary):
    """The check above could not pass by being deaf: the canary's own track plays its tone."""
    _, owner = canary
    resp = await client.get("/api/v1/tracks", params={"limit": 10}, headers=owner)
    (track,) = (await resp.json())["items"]
    assert await canary_in(client, owner, track["id"]) > 0.9


async def test_upload_file_names_never_reach_ffmpeg(client, canary, tmp_path):
    """Protocol-looking names of a real audio file change nothing: it is stored under the track id."""
    _, artist = await signed_in(client, "artist")
    path = tmp_path / "real.mp3"
    path.write_bytes(silent_mp3())
    form = aiohttp.FormData()
    with path.open("rb") as fh:
        form.add_field("file", fh, filename=f"concat:{canary[0]}|x.mp3", content_type="audio/mpeg")
        resp = await client.post("/api/v1/tracks", data=form, headers=artist)
        body = await resp.json()
    assert resp.status == 202, body
    assert (await wait_for_track(client, artist, body["id"]))["status"] == "ready"
    assert await canary_in(client, artist, body["id"]) < 0.01
