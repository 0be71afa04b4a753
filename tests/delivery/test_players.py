"""A player given nothing but the URL (no header, no cookie) decodes the whole track: ffmpeg here."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from media.gapless import AAC_FRAME, EDGE_SAMPLES, read_edit_list
from tests.delivery.conftest import SECONDS, Installed, media_urls

RATE = 8000


async def decode(url: str) -> bytes:
    """Mono 16-bit PCM at 8 kHz of everything ffmpeg can read from ``url``."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-i", url, "-map", "0:a:0", "-ac", "1", "-ar", str(RATE),
        "-f", "s16le", "-",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert not err.strip(), err.decode()  # no warnings about missing or broken pieces either
    return out


@pytest.mark.parametrize("which", ["hls_url", "stream_url"])
async def test_ffmpeg_decodes_the_whole_track(
    client: TestClient, track: Installed, listener: dict[str, str], which: str
) -> None:
    url = (await media_urls(client, listener, track.id))[which]
    pcm = await decode(url)
    seconds = len(pcm) / (2 * RATE)
    if which == "stream_url":
        assert seconds == SECONDS  # the FLAC original decodes exactly
    else:
        # The music, and - for a decoder that ignores the edit list, as ffmpeg 5.1 does in fMP4 - what
        # the edit list leaves out: the priming and mirrored head before it, the mirrored tail and the
        # encoder's padding (under two frames) after it.
        edit = read_edit_list(track.hls / "64k" / "init.mp4")
        assert edit.duration == SECONDS * edit.media_timescale
        around = (edit.media_time + EDGE_SAMPLES + 2 * AAC_FRAME) / edit.media_timescale
        assert SECONDS - 0.01 <= seconds <= SECONDS + around, seconds
    assert (
        max(abs(int.from_bytes(pcm[i : i + 2], "little", signed=True)) for i in range(0, len(pcm), 200))
        > 1000
    )
