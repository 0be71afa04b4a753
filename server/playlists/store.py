"""The ``playlists`` collection. The only code that reads or writes playlist documents; it answers
with :class:`media.records.Playlist` records.

A playlist document::

    {_id, user_id, name, description | None, is_public, track_ids: [track id, …] (ordered,
     duplicates allowed), version (bumped by every change to track_ids), created_at, updated_at}

Concurrent edits lose nothing: adds are one atomic ``$push`` with ``$position`` (two concurrent adds
both land), and edits that depend on positions (remove, move) replace the list only if ``version`` is
still the one they read (otherwise the caller answers 409 and the client re-reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from media.records import Playlist
from server.documents import new_id, utcnow
from server.errors import NotFound
from server.handles import Database

Doc = dict[str, Any]


class PlaylistStore:
    def __init__(self, db: Database) -> None:
        self._playlists = db["playlists"]

    async def create(self, *, user_id: str, name: str, description: str | None, is_public: bool) -> Playlist:
        now = utcnow()
        doc: dict[str, Any] = {
            "_id": new_id(),
            "user_id": user_id,
            "name": name,
            "description": description,
            "is_public": is_public,
            "track_ids": [],
            "version": 0,
            "created_at": now,
            "updated_at": now,
        }
        await self._playlists.insert_one(doc)
        return Playlist.from_doc(doc)

    async def get(self, playlist_id: str) -> Playlist:
        doc = await self._playlists.find_one({"_id": playlist_id})
        if doc is None:
            raise NotFound("No such playlist.", code="playlist_not_found")
        return Playlist.from_doc(doc)

    async def list_for(
        self, user_id: str, *, public_only: bool, limit: int, offset: int
    ) -> tuple[list[Playlist], int]:
        """A user's playlists, most recently changed first."""
        flt: Doc = {"user_id": user_id}
        if public_only:
            flt["is_public"] = True
        cursor = self._playlists.find(flt).sort([("updated_at", -1), ("_id", -1)]).skip(offset).limit(limit)
        found = [Playlist.from_doc(d) for d in await cursor.to_list(None)]
        return found, await self._playlists.count_documents(flt)

    async def update_fields(self, playlist_id: str, changes: Doc) -> Playlist:
        doc = await self._playlists.find_one_and_update(
            {"_id": playlist_id}, {"$set": {**changes, "updated_at": utcnow()}}, return_document=True
        )
        if doc is None:
            raise NotFound("No such playlist.", code="playlist_not_found")
        return Playlist.from_doc(doc)

    async def delete(self, playlist_id: str) -> None:
        result = await self._playlists.delete_one({"_id": playlist_id})
        if result.deleted_count == 0:
            raise NotFound("No such playlist.", code="playlist_not_found")

    async def delete_owned(self, user_id: str) -> None:
        """Every playlist of a deleted account (public ones too: they were theirs)."""
        await self._playlists.delete_many({"user_id": user_id})

    async def insert_tracks(self, playlist_id: str, track_ids: Sequence[str], position: int) -> Playlist:
        """Insert ``track_ids`` before ``position`` atomically (past the end appends)."""
        doc = await self._playlists.find_one_and_update(
            {"_id": playlist_id},
            {
                "$push": {"track_ids": {"$each": list(track_ids), "$position": position}},
                "$inc": {"version": 1},
                "$set": {"updated_at": utcnow()},
            },
            return_document=True,
        )
        if doc is None:
            raise NotFound("No such playlist.", code="playlist_not_found")
        return Playlist.from_doc(doc)

    async def replace_tracks(self, playlist_id: str, version: int, track_ids: list[str]) -> Playlist | None:
        """Set the list only if the playlist is still at ``version``; None if it changed meanwhile."""
        doc = await self._playlists.find_one_and_update(
            {"_id": playlist_id, "version": version},
            {"$set": {"track_ids": track_ids, "updated_at": utcnow()}, "$inc": {"version": 1}},
            return_document=True,
        )
        return None if doc is None else Playlist.from_doc(doc)

    async def pull_tracks(self, track_ids: Sequence[str], playlist_id: str | None = None) -> int:
        """Remove every occurrence of ``track_ids`` (deleted from the catalog); how many playlists changed."""
        if not track_ids:
            return 0
        ids = list(track_ids)
        flt: Doc = {"track_ids": ids[0] if len(ids) == 1 else {"$in": ids}}
        if playlist_id is not None:
            flt = {"_id": playlist_id}
        result = await self._playlists.update_many(
            flt,
            {"$pull": {"track_ids": {"$in": ids}}, "$inc": {"version": 1}, "$set": {"updated_at": utcnow()}},
        )
        return int(result.modified_count)
