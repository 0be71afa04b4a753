"""Gapless albums, end to end: one continuous signal cut into three tracks inside AAC frames, uploaded as an
album, transcoded by the real pipeline and decoded by ffmpeg from the signed ``hls_url``.

Every rung must give back exactly the music's samples once the signalled trim is applied (the edit list
of its init segment, the same figures as the track's ``gapless``), and the three decodes laid end to end
must be the source with no step at the joins: no sample-to-sample jump there larger than the largest
one inside the tracks.

ffmpeg (5.1 here) ignores edit lists in fragmented MP4, so the test applies the signalled trim itself when
the decode still holds the priming; ISO/IEC 14496-12 says a player presents only the edit, and Safari
and AVFoundation do. Either way the figures must add up to what was decoded, to the sample.
"""

from __future__ import annotations

import array
import asyncio
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import pytest

from media.gapless import read_edit_list
from tests.helpers import signed_in, upload_file, wait_for_track

SECONDS = 6
RUNGS = ("64k", "128k", "256k")


def sweep(path: Path, rate: int, seconds: int) -> None:
    """A slow sine sweep (50 Hz rising ~10 Hz/s), the same on both channels, as 24-bit FLAC."""
    expr = "0.5*sin(2*PI*(50*t+5*t*t))"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"aevalsrc='{expr}|{expr}':s={rate}:d={seconds}",
         "-c:a", "flac", "-sample_fmt", "s32", str(path)],
        check=True,
    )  # fmt: skip


def cut(source: Path, dest: Path, start: int, end: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source),
         "-af", f"atrim=start_sample={start}:end_sample={end}",
         "-c:a", "flac", "-sample_fmt", "s32", str(dest)],
        check=True,
    )  # fmt: skip


async def pcm(url: str) -> array.array:
    """Channel 0 as float samples, decoded by ffmpeg at the stream's own rate."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-i", url, "-map", "0:a:0", "-af", "pan=mono|c0=c0",
        "-f", "f32le", "-",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    samples = array.array("f")
    samples.frombytes(out)
    return samples


def largest_step(samples: array.array, skip: set[int] = frozenset()) -> float:
    return max(abs(samples[i + 1] - samples[i]) for i in range(len(samples) - 1) if i not in skip)


@pytest.mark.parametrize("rate", [48_000, 44_100])
async def test_an_album_cut_from_one_sweep_plays_back_as_one(client, tmp_path: Path, rate: int) -> None:
    source = tmp_path / "whole.flac"
    sweep(source, rate, 3 * SECONDS)
    # Boundaries a few hundred samples into a 1024-sample frame, never on a frame edge.
    bounds = [0, SECONDS * rate + 333, 2 * SECONDS * rate + 777, 3 * SECONDS * rate]
    whole = await pcm(str(source))
    assert len(whole) == bounds[-1]

    _, headers = await signed_in(client, "artist")
    ids = []
    for k in range(3):
        part = tmp_path / f"part{k + 1}.flac"
        cut(source, part, bounds[k], bounds[k + 1])
        fields = {"title": f"Part {k + 1}", "album": "One Sweep", "track_no": k + 1}
        status, body = await upload_file(client, headers, part, fields=fields)
        assert status == 202, body
        ids.append(body["id"])

    decoded: dict[str, list[array.array]] = {rung: [] for rung in RUNGS}
    async with aiohttp.ClientSession() as http:
        for k, track_id in enumerate(ids):
            track = await wait_for_track(client, headers, track_id, within=120)
            assert track["status"] == "ready", track
            music = bounds[k + 1] - bounds[k]
            gapless = track["gapless"]
            assert gapless["sample_rate"] == rate and gapless["source_samples"] == music
            urls = await (await client.get(f"/api/v1/tracks/{track_id}/media", headers=headers)).json()
            async with http.get(urls["hls_url"]) as resp:
                master = await resp.text()
            listed = [u for u in master.splitlines() if u and not u.startswith("#")]
            variants = [urljoin(urls["hls_url"], u) for u in listed]
            assert [v.rsplit("/", 2)[-2] for v in variants] == list(RUNGS)
            for rung, variant in zip(RUNGS, variants, strict=True):
                # The init segment signals the trim: skip the priming, present the music's length.
                async with http.get(urljoin(variant, "init.mp4")) as resp:
                    assert resp.status == 200
                    init = tmp_path / f"{track_id}-{rung}-init.mp4"
                    init.write_bytes(await resp.read())
                edit = read_edit_list(init)
                assert (edit.media_time, edit.duration) == (gapless["priming_samples"], music)
                assert edit.movie_timescale == edit.media_timescale == rate

                samples = await pcm(variant)
                held = gapless["priming_samples"] + music + gapless["padding_samples"]
                if len(samples) != music:  # the decoder did not apply the edit list: apply it here
                    assert len(samples) == held, (rung, len(samples), gapless)
                    samples = samples[gapless["priming_samples"] : gapless["priming_samples"] + music]
                assert len(samples) == music  # ±0
                decoded[rung].append(samples)

    joins = {bounds[1] - 1, bounds[2] - 1}  # index i: the step from sample i to i + 1
    for rung, parts in decoded.items():
        album = array.array("f")
        for part in parts:
            album.extend(part)
        assert len(album) == len(whole)
        inside = largest_step(album, skip={j + d for j in joins for d in range(-2048, 2049)})
        at_joins = max(abs(album[j + 1] - album[j]) for j in joins)
        assert at_joins <= inside, f"{rung}: a step of {at_joins:.4f} at a join, {inside:.4f} at most inside"
        # And it is the source in time, not merely smooth: the decode correlates with it at lag 0 (a trim
        # off by a few samples would lower it below the bar, one off by a frame would leave it near 0).
        dot = sum(album[i] * whole[i] for i in range(len(whole)))
        norm = (sum(x * x for x in album) * sum(x * x for x in whole)) ** 0.5
        assert dot / norm > 0.99, f"{rung}: correlation {dot / norm:.4f} with the source"
