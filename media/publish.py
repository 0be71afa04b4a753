"""Publish a transcoded ladder into a media store so that no player ever sees half of it.

A local ladder is swapped in by one directory rename (transcoder/pipeline.py). An object store has no
rename of a folder, so a ladder is published as a *version*:

1. every rung file goes under ``hls/<track>/<version>/`` — a prefix nothing points at yet;
2. ``hls/<track>/master.m3u8``, its variant URIs now ``<version>/<rung>/index.m3u8``, is put last: one
   atomic PUT turns players from the old ladder to the new one, and a player that fetched the old
   master keeps finding the old version's segments, never a mix;
3. then every older version of the track is removed — which also clears what a publish that crashed
   before its master left behind, the next time the track is published (or when it is deleted).

A worker's publish is fenced (``media/fencing.py``): its version is named by its claim's generation
(``g`` and twelve digits), the master is switched by a conditional put only while the claim holds and no
newer generation is published, and only versions of older generations are removed. Versions written
without a claim (``v`` and nanoseconds in hex) count as older than every fenced one.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from media.fencing import ClaimLost, Fence, version_generation, version_name
from media.layout import HLS_DIR, MASTER_PLAYLIST, check_relative
from media.playlists import parse_master_playlist, render_master_playlist
from media.storage import MediaStore, WriteConflict

UPLOADS_AT_ONCE = 8
"""Rung files put at the same time (segments are small: latency, not bandwidth, bounds a publish)."""


def _rung_files(work: Path) -> list[Path]:
    # The rung folders' files; what lies beside the master (the extracted cover) is not the ladder's.
    return sorted(p for p in work.rglob("*") if p.is_file() and p.parent != work)


def new_version() -> str:
    """A version for a publish without a claim (tools, tests): older than any fenced one."""
    return f"v{time.time_ns():x}"


def _version_of(key: str, base: str) -> str:
    return key[len(base) :].split("/", 1)[0]


def _published_generation(master: bytes) -> int:
    """The generation of the version a master playlist names (-1 for an unfenced one)."""
    variants = parse_master_playlist(master.decode()).variants
    return max((version_generation(v.uri.split("/", 1)[0]) for v in variants), default=-1)


async def publish_ladder(
    store: MediaStore, work: Path, track_id: str, *, fence: Fence | None = None, version: str | None = None
) -> str:
    """Put the validated ladder in ``work`` (``master.m3u8`` and one folder per rung) into ``store`` as
    a new version of ``track_id``'s ladder, switch the master to it, and remove older versions.

    With a ``fence`` (``media/fencing.py``) the version is the claim's generation; the master is switched
    by a conditional put, only while the claim holds and no newer generation is published, and only
    older versions are removed. :class:`ClaimLost` (its own version removed) when it may not publish.
    Returns the version. Raises what the store raises; until the master is put, nothing a player can
    reach has changed.
    """
    version = version or (version_name(fence.generation) if fence else new_version())
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
    rendered = render_master_playlist(moved).encode()
    mine = version_generation(version)
    try:
        await _switch_master(store, base + MASTER_PLAYLIST, rendered, fence)
    except ClaimLost:
        await store.delete(await store.keys(f"{base}{version}/"))
        raise
    # Only versions older than ours: a newer claim's version may be on its way up right now.
    stale = [
        k
        for k in await store.keys(base)
        if k != base + MASTER_PLAYLIST
        and (other := _version_of(k, base)) != version
        and (fence is None or version_generation(other) < mine)
    ]
    if stale:
        await store.delete(stale)
    return version


async def _switch_master(store: MediaStore, key: str, rendered: bytes, fence: Fence | None) -> None:
    """Point the track's master at the new version: one atomic put, conditional under a fence."""
    if fence is None:
        with tempfile.TemporaryDirectory(prefix="hs-master-") as folder:
            staged = Path(folder) / MASTER_PLAYLIST
            await asyncio.to_thread(staged.write_bytes, rendered)
            await store.put_file(key, staged)
        return
    while True:
        current = await store.read_versioned(key)
        await fence.check(_published_generation(current[0]) if current else None)
        try:
            await store.put_if(key, rendered, current[1] if current else None)
            return
        except WriteConflict:
            continue  # another publisher switched it meanwhile: look again
