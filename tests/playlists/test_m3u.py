"""GET /api/v1/playlists/{id}.m3u8: extended M3U whose entries a header-less player can open."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.helpers import make_track, signed_in


async def test_m3u_export_plays_in_ffmpeg(client: TestClient) -> None:
    _, headers = await signed_in(client, "artist")
    first = await make_track(
        client, headers, "mp3", seconds=2, fields={"title": "Opening", "artist": "Tester"}
    )
    second = await make_track(
        client, headers, "flac", seconds=2, fields={"title": "Closing", "artist": "Tester"}
    )
    resp = await client.post("/api/v1/playlists", json={"name": "Road\ntrip"}, headers=headers)
    playlist = await resp.json()
    url = f"/api/v1/playlists/{playlist['id']}"
    resp = await client.post(
        f"{url}/tracks", json={"track_ids": [first["id"], second["id"]]}, headers=headers
    )
    assert resp.status == 200, await resp.text()

    resp = await client.get(f"{url}.m3u8", headers=headers)
    assert resp.status == 200
    assert resp.content_type == "audio/x-mpegurl"
    assert resp.headers["Cache-Control"] == "no-store"
    lines = (await resp.text()).splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[1] == "#PLAYLIST:Road trip"  # no line break can split an entry
    assert lines[2].startswith("#EXTINF:") and lines[2].endswith(",Tester - Opening")
    assert lines[4].endswith(",Tester - Closing")
    entries = [line for line in lines if line and not line.startswith("#")]
    assert len(entries) == 2
    assert all(
        e.startswith("http://") and f"/{t['id']}/" in e for e, t in zip(entries, (first, second), strict=True)
    )

    # The first entry plays with no header and no cookie: ffmpeg decodes it to the end.
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-nostdin", "-i", entries[0], "-f", "null", "-",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    # Someone else cannot export a private playlist.
    _, other = await signed_in(client)
    assert (await client.get(f"{url}.m3u8", headers=other)).status == 404
