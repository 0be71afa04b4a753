"""The segments of ladders made on play, kept within a byte budget (``HS_LADDER_CACHE_MB``).

Only segments made on play count and go: a ladder's playlists, init segments and ``onplay.json`` are a
few kilobytes and stay, so an evicted track plays again at once, its segments made anew as it plays.
Eager ladders (uploads, eager scans) are never touched. When the segments made on play pass the
budget, whole tracks' segments go, least recently used first; a track being played — one with a
running encoder run, or used in the last ``PROTECT_S`` seconds — is never evicted, even if that leaves
the cache over its budget for a while.

"Used" is what this process sees: a track's media URLs handed out, a segment asked for that was not
there, a segment made. Segments already made are served by the segment lane or nginx without asking
here, so a track replayed entirely from the cache looks older than it is; at worst it is evicted and
its segments are made again. Each server process keeps its own account (started from the files on
disk), so with ``serve --workers N`` the budget holds per process, not in sum.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from media.onplay import DESCRIPTION

log = structlog.get_logger("harmonystream.ladder_cache")

PROTECT_S = 30.0
"""A track used this recently counts as being played."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    bytes: int
    budget: int
    tracks: int
    segments_made: int
    tracks_evicted: int


class LadderCache:
    def __init__(
        self,
        hls_root: Path,
        budget: int,
        *,
        protect_s: float = PROTECT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._root = hls_root
        self._budget = budget
        self._protect_s = protect_s
        self._clock = clock
        self._sizes: dict[str, int] | None = None  # track id → bytes of its segments made on play
        self._used: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._made = 0
        self._evicted = 0

    async def open(self) -> None:
        """Read what is on disk, once: call before making segments, so none is counted twice."""
        async with self._lock:
            await self._account()

    def used(self, track_id: str) -> None:
        """A play touched the track (it moves to the back of the eviction order)."""
        self._used[track_id] = self._clock()

    async def added(self, track_id: str, size: int, busy: Callable[[str], bool]) -> None:
        """A segment of ``size`` bytes was made for ``track_id``; evict what the budget needs, sparing
        tracks for which ``busy`` is true."""
        async with self._lock:
            sizes = await self._account()
            sizes[track_id] = sizes.get(track_id, 0) + size
            self._made += 1
            self.used(track_id)
            total = sum(sizes.values())
            if total <= self._budget:
                return
            now = self._clock()
            for candidate in sorted(sizes, key=lambda t: self._used.get(t, 0.0)):
                if total <= self._budget:
                    break
                if not sizes[candidate]:
                    continue  # prepared, nothing made: nothing to free
                if busy(candidate) or now - self._used.get(candidate, 0.0) < self._protect_s:
                    continue
                freed = await asyncio.to_thread(_remove_segments, self._root / candidate)
                total -= sizes.pop(candidate)
                self._evicted += 1
                log.info("ladder_cache_evicted", track_id=candidate, freed_bytes=freed)
            if total > self._budget:
                log.warning("ladder_cache_over_budget", bytes=total, budget=self._budget)

    async def stats(self) -> CacheStats:
        async with self._lock:
            sizes = await self._account()
            return CacheStats(
                sum(sizes.values()),
                self._budget,
                len([s for s in sizes.values() if s]),
                self._made,
                self._evicted,
            )

    async def _account(self) -> dict[str, int]:
        """Sizes by track, read from disk the first time (segments made before this process started)."""
        if self._sizes is None:
            found = await asyncio.to_thread(_on_disk, self._root)
            self._sizes = {track_id: size for track_id, (size, _) in found.items()}
            for track_id, (_, newest) in found.items():
                self._used.setdefault(track_id, newest)
        return self._sizes


def _on_disk(root: Path) -> dict[str, tuple[int, float]]:
    """{track id: (bytes of its segments, newest segment's mtime)} of the ladders made on play. Blocking."""
    out: dict[str, tuple[int, float]] = {}
    try:
        tracks = list(os.scandir(root))
    except FileNotFoundError:
        return out
    for track in tracks:
        if not track.is_dir() or not os.path.exists(os.path.join(track.path, DESCRIPTION)):
            continue
        size, newest = 0, 0.0
        for segment in Path(track.path).glob("*/seg_*.m4s"):
            try:
                stat = segment.stat()
            except FileNotFoundError:
                continue
            size += stat.st_size
            newest = max(newest, stat.st_mtime)
        out[track.name] = (size, newest)
    return out


def _remove_segments(hls_dir: Path) -> int:
    """Delete the segments of one ladder made on play (its playlists and init segments stay). Blocking."""
    freed = 0
    for segment in hls_dir.glob("*/seg_*.m4s"):
        try:
            freed += segment.stat().st_size
            segment.unlink()
        except FileNotFoundError:
            continue
    return freed
