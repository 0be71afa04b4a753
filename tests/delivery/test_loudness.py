"""Loudness of tracks and albums, checked against ffmpeg's own EBU R128 meter on the same originals.

Pink noise at two known levels (-23 and -14 LUFS) is uploaded as a two-track album. Each track's
figures must agree with ``ebur128`` run on its original (0.1 LU, 0.2 dB of true peak); the album's gain
must come from the album measured as one programme (``ebur128`` on the two originals played one after
the other), which differs from the mean of the two track gains by several dB here.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import aiohttp
import pytest

from media.playlists import parse_master_playlist
from tests.helpers import signed_in, upload_file, wait_for_track

SECONDS = 8
RATE = 48_000


def ebur128(*paths: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of ``paths`` played one after the other, by ffmpeg's meter."""
    inputs = [arg for p in paths for arg in ("-i", str(p))]
    chain = "".join(f"[{i}:a]" for i in range(len(paths)))
    graph = f"{chain}concat=n={len(paths)}:v=0:a=1,ebur128=peak=true"
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", *inputs, "-filter_complex", graph, "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    summary = out[out.rfind("Summary:") :]
    integrated = float(re.search(r"I:\s*(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s*Peak:\s*(-?[\d.]+) dBFS", summary).group(1))
    return integrated, peak


def pink_noise(path: Path, lufs: float, seed: int) -> Path:
    """Pink noise brought to ``lufs`` (measured, then scaled), as 24-bit FLAC."""
    raw = path.with_suffix(".raw.flac")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"anoisesrc=color=pink:amplitude=0.3:sample_rate={RATE}:duration={SECONDS}:seed={seed}",
         "-af", "aformat=channel_layouts=stereo", "-c:a", "flac", "-sample_fmt", "s32", str(raw)],
        check=True,
    )  # fmt: skip
    measured, _ = ebur128(raw)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-af", f"volume={lufs - measured:.3f}dB",
         "-c:a", "flac", "-sample_fmt", "s32", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def test_track_and_album_loudness_agree_with_ebur128(client, tmp_path: Path) -> None:
    quiet = pink_noise(tmp_path / "quiet.flac", -23.0, seed=1)
    loud = pink_noise(tmp_path / "loud.flac", -14.0, seed=2)
    _, headers = await signed_in(client, "artist")
    tracks = {}
    for no, path in enumerate((quiet, loud), start=1):
        fields = {"title": path.stem, "album": "Two Levels", "track_no": no}
        status, body = await upload_file(client, headers, path, fields=fields)
        assert status == 202, body
        tracks[path] = body["id"]

    for track_id in tracks.values():
        track = await wait_for_track(client, headers, track_id, within=120)
        assert track["status"] == "ready", track

    async def figured() -> dict[Path, dict] | None:
        """Every track once the album's figures are written (just after the last track got ready)."""
        docs = {
            path: await (await client.get(f"/api/v1/tracks/{track_id}", headers=headers)).json()
            for path, track_id in tracks.items()
        }
        return docs if all(d["loudness"]["album_gain_db"] is not None for d in docs.values()) else None

    deadline = asyncio.get_running_loop().time() + 10
    while (docs := await figured()) is None:
        assert asyncio.get_running_loop().time() < deadline, "the album's loudness was never figured"
        await asyncio.sleep(0.1)
    for path, doc in docs.items():
        integrated, peak = ebur128(path)
        loudness = doc["loudness"]
        assert loudness["integrated_lufs"] == pytest.approx(integrated, abs=0.1), path.name
        assert loudness["true_peak_dbtp"] == pytest.approx(peak, abs=0.2), path.name
        assert loudness["track_gain_db"] == pytest.approx(-18.0 - loudness["integrated_lufs"], abs=0.01)
        assert loudness["range_lu"] is not None and 0 <= loudness["range_lu"] < 3  # steady noise

    album_lufs, album_peak = ebur128(quiet, loud)
    gains = [d["loudness"]["track_gain_db"] for d in docs.values()]
    for doc in docs.values():
        loudness = doc["loudness"]
        assert loudness["album_gain_db"] == pytest.approx(-18.0 - album_lufs, abs=0.1)
        assert loudness["album_true_peak_dbtp"] == pytest.approx(album_peak, abs=0.2)
        # One programme, not an average: the loud half dominates what a listener hears (-1.5 dB here,
        # where the mean of the track gains is +0.5 dB).
        assert abs(loudness["album_gain_db"] - sum(gains) / len(gains)) > 1.0

    # HLS players get the same gains from the master playlist (RFC 8216 EXT-X-SESSION-DATA).
    for path, track_id in tracks.items():
        urls = await (await client.get(f"/api/v1/tracks/{track_id}/media", headers=headers)).json()
        async with aiohttp.ClientSession() as http, http.get(urls["hls_url"]) as resp:
            master = parse_master_playlist(await resp.text())
        loudness = docs[path]["loudness"]
        assert dict(master.session_data) == {
            "org.harmonystream.track-gain-db": f"{loudness['track_gain_db']:.2f}",
            "org.harmonystream.track-peak-dbtp": f"{loudness['true_peak_dbtp']:.2f}",
            "org.harmonystream.album-gain-db": f"{loudness['album_gain_db']:.2f}",
            "org.harmonystream.album-peak-dbtp": f"{loudness['album_true_peak_dbtp']:.2f}",
        }

    # The album changes: the loud track leaves it. The quiet one is now the whole album.
    resp = await client.patch(f"/api/v1/tracks/{tracks[loud]}", json={"album_id": None}, headers=headers)
    assert resp.status == 200, await resp.text()
    moved = (await resp.json())["loudness"]
    assert moved["album_gain_db"] is None and moved["album_true_peak_dbtp"] is None
    left = (await (await client.get(f"/api/v1/tracks/{tracks[quiet]}", headers=headers)).json())["loudness"]
    assert left["album_gain_db"] == pytest.approx(left["track_gain_db"], abs=0.1)
    assert left["album_true_peak_dbtp"] == pytest.approx(left["true_peak_dbtp"], abs=0.01)


async def test_merging_artists_refigures_the_album_they_fold_into(client, tmp_path: Path) -> None:
    """Two artists' albums of the same title become one album: its figures are those of both tracks."""
    _, artist = await signed_in(client, "artist")
    _, admin = await signed_in(client, "admin")
    quiet = pink_noise(tmp_path / "quiet.flac", -23.0, seed=3)
    loud = pink_noise(tmp_path / "loud.flac", -14.0, seed=4)
    ids = {}
    for path, name in ((quiet, "Dup Band"), (loud, "The Band")):
        status, body = await upload_file(
            client, artist, path, fields={"title": path.stem, "artist": name, "album": "Same Album"}
        )
        assert status == 202, body
        ids[path] = body
    for body in ids.values():
        assert (await wait_for_track(client, artist, body["id"], within=120))["status"] == "ready"

    async def loudness(path: Path) -> dict:
        return (await (await client.get(f"/api/v1/tracks/{ids[path]['id']}", headers=admin)).json())[
            "loudness"
        ]

    deadline = asyncio.get_running_loop().time() + 10
    while (await loudness(quiet))["album_gain_db"] is None or (await loudness(loud))["album_gain_db"] is None:
        assert asyncio.get_running_loop().time() < deadline, "the albums' loudness was never figured"
        await asyncio.sleep(0.1)
    alone = await loudness(quiet)
    assert alone["album_gain_db"] == pytest.approx(alone["track_gain_db"], abs=0.1)  # an album of one

    source, target = ids[quiet]["artist_id"], ids[loud]["artist_id"]
    resp = await client.post(
        f"/api/v1/artists/{source}/merge", json={"into_artist_id": target}, headers=admin
    )
    assert resp.status == 200, await resp.text()
    album_lufs, album_peak = ebur128(quiet, loud)
    for path in (quiet, loud):
        figures = await loudness(path)
        assert figures["album_gain_db"] == pytest.approx(-18.0 - album_lufs, abs=0.1), path.name
        assert figures["album_true_peak_dbtp"] == pytest.approx(album_peak, abs=0.2), path.name
