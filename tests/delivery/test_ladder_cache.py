"""Segments made on play on disk: a killed run leaves only whole segments; the budget they are kept in:
least recently played tracks' segments go, playlists stay, and a track whose segments went plays again
(they are made anew). Real files, real ffmpeg."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path

from media.gapless import encoded_frames
from media.layout import INIT_SEGMENT, MASTER_PLAYLIST, MediaLayout, segment_name
from media.onplay import OnPlaySource, prepare
from server.delivery.ladder_cache import LadderCache
from server.delivery.onplay import OnPlayLadders
from server.errors import ServiceUnavailable
from tests.audio import ffmpeg_processes_mentioning, make_audio

RUNG = "256k"


async def _play(ladders: OnPlayLadders, layout: MediaLayout, track_id: str) -> int:
    """Every segment of one rung, asked for in order as a player does; their bytes."""
    source = OnPlaySource.read(layout.hls_dir(track_id))
    assert source is not None
    count = len(source.plan().segment_frames)
    for index in range(count):
        assert await ladders.segment(track_id, f"{RUNG}/{segment_name(index)}")
    return sum(p.stat().st_size for p in (layout.hls_dir(track_id) / RUNG).glob("seg_*"))


def _segments(layout: MediaLayout, track_id: str) -> list[str]:
    return sorted(p.name for p in layout.hls_dir(track_id).glob("*/seg_*"))


async def test_the_least_recently_played_go_first_and_play_again(tmp_path: Path) -> None:
    layout = MediaLayout(tmp_path / "media")
    layout.ensure_dirs()
    ids = ["tracka000001", "trackb000002", "trackc000003"]
    for track_id in ids:
        source = make_audio(tmp_path / f"{track_id}.flac", "flac", 14.0)
        await prepare(source, layout.hls_dir(track_id))

    # One track's segments, made without a budget, say how big a track is.
    size = await _play(OnPlayLadders(layout), layout, ids[0])
    for segment in layout.hls_dir(ids[0]).glob("*/seg_*"):
        segment.unlink()

    cache = LadderCache(layout.root / "hls", budget=size * 3 // 2, protect_s=0)
    ladders = OnPlayLadders(layout, cache=cache)
    assert await _play(ladders, layout, ids[0]) == size
    await _play(ladders, layout, ids[1])  # A goes: two tracks do not fit
    assert _segments(layout, ids[0]) == [] and _segments(layout, ids[1])
    await _play(ladders, layout, ids[2])  # B goes now: the least recently played
    assert _segments(layout, ids[1]) == [] and _segments(layout, ids[2])
    stats = await cache.stats()
    assert stats.bytes <= stats.budget and stats.tracks_evicted == 2 and stats.tracks == 1
    # Playlists and init segments stay: A plays again at once, its segments made anew (C goes).
    assert (layout.hls_dir(ids[0]) / MASTER_PLAYLIST).is_file()
    assert (layout.hls_dir(ids[0]) / RUNG / INIT_SEGMENT).is_file()
    assert await _play(ladders, layout, ids[0]) > 0
    assert _segments(layout, ids[2]) == []
    assert (await cache.stats()).bytes <= size * 3 // 2


async def test_a_track_being_played_is_never_evicted_and_eager_ladders_are_not_counted(
    tmp_path: Path,
) -> None:
    layout = MediaLayout(tmp_path / "media")
    layout.ensure_dirs()
    source = make_audio(tmp_path / "a.flac", "flac", 14.0)
    await prepare(source, layout.hls_dir("tracka000001"))
    await prepare(source, layout.hls_dir("trackb000002"))
    # An eager ladder (no onplay.json) beside them: outside the account, never touched.
    shutil.copytree(layout.hls_dir("trackb000002"), layout.hls_dir("eager0000003"))
    (layout.hls_dir("eager0000003") / "onplay.json").unlink()
    (layout.hls_dir("eager0000003") / RUNG / segment_name(0)).write_bytes(b"x" * 10_000)

    # A budget of one byte: every track is over it, and the ones being played stay anyway.
    cache = LadderCache(layout.root / "hls", budget=1, protect_s=3600)
    ladders = OnPlayLadders(layout, cache=cache)
    await _play(ladders, layout, "tracka000001")
    await _play(ladders, layout, "trackb000002")
    assert _segments(layout, "tracka000001") and _segments(layout, "trackb000002")
    assert (layout.hls_dir("eager0000003") / RUNG / segment_name(0)).is_file()
    stats = await cache.stats()
    assert stats.tracks == 2 and stats.tracks_evicted == 0 and stats.bytes > stats.budget


async def test_a_run_killed_mid_segment_leaves_no_half_segment(tmp_path: Path) -> None:
    layout = MediaLayout(tmp_path / "media")
    layout.ensure_dirs()
    source = make_audio(tmp_path / "long-source.flac", "flac", 180.0)
    prepared = await prepare(source, layout.hls_dir("trackk000001"))
    plan = prepared.plan
    ladders = OnPlayLadders(layout)
    rung_dir = layout.hls_dir("trackk000001") / RUNG

    async def player() -> None:
        for index in range(len(plan.segment_frames)):
            await ladders.segment("trackk000001", f"{RUNG}/{segment_name(index)}")

    playing = asyncio.create_task(player())
    # Once a few segments are out, kill the encoder in the middle of the next.
    killed = 0
    async with asyncio.timeout(60):
        while not killed:
            if len(list(rung_dir.glob("seg_*"))) >= 3:
                for pid in ffmpeg_processes_mentioning("long-source.flac"):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
            await asyncio.sleep(0.005)
    with contextlib.suppress(ServiceUnavailable):
        await playing  # the player saw the segment fail (503), or another run made it
    await ladders.close()  # the runs still going end (their claims go with them)
    made = sorted(rung_dir.glob("seg_*"))
    # Whatever is there is whole; no temp file or claim is left; nothing else is in the folder.
    for path in made:
        assert encoded_frames([path]) == plan.segment_frames[int(path.stem[4:])]
    assert sorted(p.name for p in rung_dir.iterdir() if not p.name.startswith("seg_")) == sorted(
        [INIT_SEGMENT, "index.m3u8"]
    )
    # Every segment the killed run did not make is made by another: the whole rung is there.
    for index in range(len(plan.segment_frames)):
        assert await ladders.segment("trackk000001", f"{RUNG}/{segment_name(index)}")
        assert encoded_frames([rung_dir / segment_name(index)]) == plan.segment_frames[index]
    await ladders.close()


async def test_two_server_processes_asked_at_once_make_a_segment_once(tmp_path: Path) -> None:
    layout = MediaLayout(tmp_path / "media")
    layout.ensure_dirs()
    source = make_audio(tmp_path / "shared.flac", "flac", 60.0)
    await prepare(source, layout.hls_dir("tracks000001"))
    # Two servers on one machine: separate instances, each with its own account, one media folder.
    caches = [LadderCache(layout.root / "hls", budget=1 << 30) for _ in range(2)]
    servers = [OnPlayLadders(layout, cache=cache) for cache in caches]
    for index in (0, 1, 2):
        path = f"{RUNG}/{segment_name(index)}"
        assert await asyncio.gather(*(s.segment("tracks000001", path) for s in servers)) == [True, True]
    made = [(await cache.stats()).segments_made for cache in caches]
    assert sorted(made)[0] == 0 and sorted(made)[1] >= 3  # one of them made every one
    for server in servers:
        await server.close()

    # A claim left by a process that died (nobody holds its lock) is not waited for.
    rung_dir = layout.hls_dir("tracks000001") / RUNG
    (rung_dir / ".run-00008.lock").write_text("8")
    assert await servers[0].segment("tracks000001", f"{RUNG}/{segment_name(8)}")
    await servers[0].close()
    assert not list(rung_dir.glob(".run-*"))
