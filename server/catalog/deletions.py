"""Tombstones of deleted catalog documents, so that other processes learn of a delete quickly.

A deleted document leaves no ``updated_at`` behind, so a process that keeps a copy of the catalog
(the search index of every ``serve`` replica) could only notice it by comparing whole id sets. Each
delete therefore records ``{kind, doc_id, deleted_at}`` here, and readers catch up by ``deleted_at``
exactly as they do by ``updated_at``. Tombstones are pruned after :data:`KEEP`; a reader that was away
longer rebuilds or reconciles anyway. A delete whose tombstone was never written (a crash between the
two writes, a manual delete in the database) is still found by the periodic id-set reconcile.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from server.documents import new_id, utcnow
from server.handles import Database

Kind = Literal["artist", "album", "track"]
COLLECTION = "deletions"
KEEP = timedelta(days=1)


class Deletions:
    def __init__(self, db: Database) -> None:
        self._coll = db[COLLECTION]

    async def record(self, kind: Kind, doc_id: str) -> None:
        """Call after the document is gone."""
        await self._coll.insert_one({"_id": new_id(), "kind": kind, "doc_id": doc_id, "deleted_at": utcnow()})

    async def since(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        """Tombstones recorded at or after ``since``, oldest first."""
        cursor = self._coll.find({"deleted_at": {"$gte": since}}).sort("deleted_at", 1)
        tombstones: list[dict[str, Any]] = await cursor.limit(limit).to_list(None)
        return tombstones

    async def prune(self) -> None:
        await self._coll.delete_many({"deleted_at": {"$lt": utcnow() - KEEP}})
