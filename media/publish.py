"""Publish a transcoded ladder into a media store so that no player ever sees half of it.

A local ladder is swapped in by one directory rename (transcoder/pipeline.py). An object store has no
rename of a folder, so a ladder is published as a *version*:

1. every rung file goes under ``hls/<track>/<version>/`` — a prefix nothing points at yet;
2. ``hls/<track>/master.m3u8``, its variant URIs now ``<version>/<rung>/index.m3u8``, is put last: one
   atomic PUT turns players from the old ladder to the new one, and a player that fetched the old
   master keeps finding the old version's segments, never a mix;
3. then every other version of the track is removed — which also clears what a publish that crashed
   before its master left behind, the next time the track is published (or when it is deleted).

Versions sort by time (``v`` and nanoseconds since the epoch in hex), so the newest is recognisable.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from media.layout import HLS_DIR, MASTER_PLAYLIST, check_relative
from media.playlists import parse_master_playlist, render_master_playlist
from media.storage import MediaStore

UPLOADS_AT_ONCE = 8
"""Rung files put at the same time (segments are small: latency, not bandwidth, bounds a publish)."""


def _rung_files(work: Path) -> list[Path]:
    # The rung folders' files; what lies beside the master (the extracted cover) is not the ladder's.
    return sorted(p for p in work.rglob("*") if p.is_file() and p.parent != work)


def new_version() -> str:
    return f"v{time.time_ns():x}"


async def publish_ladder(store: MediaStore, work: Path, track_id: str, version: str | None = None) -> str:
    """Put the validated ladder in ``work`` (``master.m3u8`` and one folder per rung) into ``store`` as
    a new version of ``track_id``'s ladder, switch the master to it, and remove older versions.

    Returns the version. Raises what the store raises; until the master is put, nothing a player can
    reach has changed.
    """
    version = version or new_version()
    base = f"{HLS_DIR}/{track_id}/"
    check_relative(base + version)
    files = await asyncio.to_thread(_rung_files, work)
    gate = asyncio.Semaphore(UPLOADS_AT_ONCE)

    async def put(path: Path) -> None:
        async with gate:
            await store.put_file(f"{base}{version}/{path.relative_to(work).as_posix()}", path)

    await asyncio.gather(*(put(p) for p in files))
    master = parse_master_playlist(await asyncio.to_thread((work / MASTER_PLAYLIST).read_text))
    moved = replace(master, variants=tuple(replace(v, uri=f"{version}/{v.uri}") for v in master.variants))
    with tempfile.TemporaryDirectory(prefix="hs-master-") as folder:
        staged = Path(folder) / MASTER_PLAYLIST
        await asyncio.to_thread(staged.write_text, render_master_playlist(moved))
        await store.put_file(base + MASTER_PLAYLIST, staged)
    stale = [
        k
        for k in await store.keys(base)
        if k != base + MASTER_PLAYLIST and not k.startswith(f"{base}{version}/")
    ]
    if stale:
        await store.delete(stale)
    return version
