"""The ``lyrics`` collection: one document per track (``_id`` = track id), shaped by ``Lyrics.to_doc``.

Kept out of the track document: a song's lyrics are kilobytes that no listing needs.
"""

from __future__ import annotations

from typing import Any

from media.lyrics import Lyrics

Database = Any


class LyricsStore:
    def __init__(self, db: Database) -> None:
        self._lyrics = db["lyrics"]

    async def get(self, track_id: str) -> Lyrics | None:
        doc = await self._lyrics.find_one({"_id": track_id})
        return None if doc is None else Lyrics.from_doc(doc)

    async def put(self, track_id: str, lyrics: Lyrics) -> None:
        """Store ``lyrics`` for the track, replacing what was there."""
        await self._lyrics.replace_one({"_id": track_id}, {"_id": track_id, **lyrics.to_doc()}, upsert=True)

    async def put_from_file(self, track_id: str, lyrics: Lyrics | None) -> None:
        """Lyrics a file carries (tags, sidecar): they replace earlier ones from the file, never lyrics the
        owner uploaded; a file that lost its lyrics drops the ones it gave before."""
        current = await self.get(track_id)
        if current is not None and current.source == "upload":
            return
        if lyrics is None:
            if current is not None:
                await self.delete(track_id)
            return
        await self.put(track_id, lyrics)

    async def delete(self, track_id: str) -> bool:
        result = await self._lyrics.delete_one({"_id": track_id})
        return bool(result.deleted_count)
