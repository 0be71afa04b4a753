"""Album loudness: the album's tracks measured as one programme, written into each track's ``loudness``.

Each transcode keeps the histogram of its track's 400 ms gating blocks (``loudness_blocks``, one
document per track, out of the track document so that listings never carry it). Once no track of an
album is waiting for a transcode, the album's integrated loudness is the BS.1770 gate over all those
blocks together (:mod:`media.loudness`), its true peak the highest of its tracks', and every ready
track of the album gets ``album_gain_db`` and ``album_true_peak_dbtp``. It is figured again whenever
the album changes: a track finished, moved in or out, deleted, or folded in by an artist merge (the
worker and the catalog call :meth:`AlbumLoudness.refresh`). A track measured before blocks were kept
leaves the album without figures until it is analysed again (``POST /api/v1/jobs/reanalyse``).

Used by the worker and by the server (both may write tracks the catalog caches: the cache entries of
the tracks written are invalidated here).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from media.catalog_cache import CatalogCache
from media.errors import PlaylistError
from media.layout import HLS_DIR, MASTER_PLAYLIST
from media.loudness import BlockHistogram, gain_db, session_data
from media.playlists import parse_master_playlist, render_master_playlist
from media.storage import MediaStore, StorageError

Database = Any


@dataclass(frozen=True, slots=True)
class AlbumFigures:
    integrated_lufs: float
    true_peak_dbtp: float | None
    gain_db: float


class AlbumLoudness:
    def __init__(self, db: Database, cache: CatalogCache, media: MediaStore | None = None) -> None:
        self._tracks = db["tracks"]
        self._blocks = db["loudness_blocks"]
        self._cache = cache
        self._media = media
        """Where the ladders live: each track's master playlist carries the gains as session data."""

    async def save_blocks(self, track_id: str, blocks: BlockHistogram) -> None:
        """Keep a track's gating blocks (replacing what an earlier transcode kept)."""
        await self._blocks.replace_one(
            {"_id": track_id}, {"_id": track_id, "blocks": blocks.to_doc()}, upsert=True
        )

    async def forget(self, track_id: str) -> None:
        """Drop a deleted track's blocks."""
        await self._blocks.delete_one({"_id": track_id})

    async def detach(self, track_ids: list[str]) -> None:
        """Clear the album figures of tracks that left their album."""
        if track_ids:
            await self._write(track_ids, None)

    async def refresh(self, album_id: str | None) -> AlbumFigures | None:
        """Figure the album's loudness again and write it into its ready tracks. None while a track is
        still processing (the last one to finish figures it), and None with the album fields cleared
        when a track lacks its blocks."""
        if not album_id:
            return None
        docs = await self._tracks.find(
            {"album_id": album_id}, projection={"_id": 1, "status": 1, "loudness": 1}
        ).to_list(None)
        ready = [d for d in docs if d.get("status") == "ready" and d.get("loudness")]
        if any(d.get("status") == "processing" for d in docs):
            return None  # the last track to finish figures it
        figures = await self._figures(ready)
        await self._write([d["_id"] for d in ready], figures)
        return figures

    async def _write(self, ids: list[str], figures: AlbumFigures | None) -> None:
        changes = {
            "loudness.album_gain_db": figures.gain_db if figures else None,
            "loudness.album_true_peak_dbtp": figures.true_peak_dbtp if figures else None,
        }
        if not ids:
            return
        # Only tracks that have a loudness object: MongoDB cannot set a field inside a null.
        await self._tracks.update_many({"_id": {"$in": ids}, "loudness": {"$ne": None}}, {"$set": changes})
        await self._cache.invalidate("track", *ids)
        if self._media is not None:
            written = self._tracks.find(
                {"_id": {"$in": ids}, "status": "ready"}, projection={"_id": 1, "loudness": 1}
            )
            for doc in await written.to_list(None):
                await self._restamp_master(doc["_id"], session_data(doc.get("loudness")))

    async def _restamp_master(self, track_id: str, session: tuple[tuple[str, str], ...]) -> None:
        """Put the gains into the track's master playlist (same variants; written whole, atomically)."""
        assert self._media is not None
        key = f"{HLS_DIR}/{track_id}/{MASTER_PLAYLIST}"
        try:
            text = b"".join([chunk async for chunk in self._media.read(key)]).decode("utf-8")
            master = parse_master_playlist(text)
        except (StorageError, PlaylistError, UnicodeDecodeError):
            return  # no ladder (yet, or any more): nothing to stamp
        if master.session_data == session:
            return
        with tempfile.TemporaryDirectory(prefix="hs-master-") as folder:
            staged = Path(folder) / MASTER_PLAYLIST
            rendered = render_master_playlist(replace(master, session_data=session))
            await asyncio.to_thread(staged.write_text, rendered, "utf-8")
            await self._media.put_file(key, staged)

    async def _figures(self, ready: list[dict[str, Any]]) -> AlbumFigures | None:
        if not ready:
            return None
        ids = [d["_id"] for d in ready]
        stored = {d["_id"]: d for d in await self._blocks.find({"_id": {"$in": ids}}).to_list(None)}
        if len(stored) < len(ids):
            return None
        merged = BlockHistogram.merged(BlockHistogram.from_doc(d.get("blocks")) for d in stored.values())
        integrated = merged.integrated_lufs()
        if integrated is None:
            return None
        peaks = [p for d in ready if (p := (d.get("loudness") or {}).get("true_peak_dbtp")) is not None]
        gain = gain_db(integrated)
        assert gain is not None
        return AlbumFigures(round(integrated, 2), max(peaks) if peaks else None, gain)
