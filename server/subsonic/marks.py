"""The ``annotations`` collection: a user's stars and ratings of songs, albums and artists, answered
as :class:`media.records.Mark` records.

{_id: "<user>:<item>", user_id, item_id, kind: song|album|artist, starred_at | None, rating | None}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from media.records import Mark
from server.documents import any_of

FEW = 50
"""Up to this many items are looked up one key each; more read all of the user's marks."""


class Annotations:
    def __init__(self, db: Any) -> None:
        self._docs = db["annotations"]

    async def set(self, user_id: str, item_id: str, kind: str, changes: dict[str, Any]) -> None:
        key = f"{user_id}:{item_id}"
        await self._docs.update_one(
            {"_id": key},
            {"$set": {"user_id": user_id, "item_id": item_id, "kind": kind, **changes}},
            upsert=True,
        )

    async def for_kind(self, user_id: str, kind: str) -> list[Mark]:
        return [
            Mark.from_doc(d) for d in await self._docs.find({"user_id": user_id, "kind": kind}).to_list(None)
        ]

    async def starred(self, user_id: str) -> list[Mark]:
        docs = await self._docs.find({"user_id": user_id, "starred_at": {"$ne": None}}).to_list(None)
        return [Mark.from_doc(d) for d in docs]

    async def for_items(self, user_id: str, item_ids: Sequence[str]) -> dict[str, Mark]:
        """{item id: annotation} of the user's annotations of these items."""
        if not item_ids:
            return {}
        if len(item_ids) > FEW:
            # A big page (an app syncing the library): all of the user's marks through the user index
            # cost less than hundreds of single-key lookups, and a listener marks far fewer songs.
            wanted = set(item_ids)
            docs = await self._docs.find({"user_id": user_id}).to_list(None)
        else:
            keys = [f"{user_id}:{i}" for i in item_ids]
            wanted = set(item_ids)
            docs = await self._docs.find(any_of("_id", keys)).to_list(None)
        return {d["item_id"]: Mark.from_doc(d) for d in docs if d["item_id"] in wanted}

    async def forget_user(self, user_id: str) -> None:
        """Every mark of a deleted account (through the user index)."""
        await self._docs.delete_many({"user_id": user_id})
