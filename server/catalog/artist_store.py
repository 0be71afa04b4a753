"""The ``artists`` collection. The only code that reads or writes artist documents.

An artist document::

    {_id, name, name_key (unique: case- and accent-insensitive name), bio | None, image | None,
     owner_ids: [user ids that manage the profile], created_at, updated_at}

Reads answer :class:`media.records.Artist` records; documents never leave this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from media.records import Artist, check_artist_changes
from server.catalog.deletions import Deletions
from server.catalog.names import sort_key
from server.catalog.paging import Page, PageCursor, keyset_page, sort_field
from server.documents import any_of, new_id, utcnow
from server.errors import Conflict, NotFound
from server.handles import Database

SORTS = {"name": "name_key", "created_at": "created_at"}


class ArtistStore:
    def __init__(self, db: Database) -> None:
        self._artists = db["artists"]
        self._deletions = Deletions(db)

    async def create(self, *, name: str, bio: str | None, owner_ids: list[str]) -> Artist:
        """A new artist; :class:`Conflict` if the name is taken."""
        doc = self._new(name, bio, owner_ids)
        try:
            await self._artists.insert_one(doc)
        except DuplicateKeyError as exc:
            raise _taken() from exc
        return Artist.from_doc(doc)

    async def find_or_create(self, name: str, owner_id: str | None) -> tuple[Artist, bool]:
        """The artist called ``name`` (matched case-insensitively), created if unknown: (artist, created).

        Insert first and fall back to reading on a duplicate, so concurrent uploads and scans that name
        the same new artist end with one profile.
        """
        existing = await self._artists.find_one({"name_key": sort_key(name)})
        if existing is not None:
            return Artist.from_doc(existing), False
        doc = self._new(name, None, [owner_id] if owner_id else [])
        try:
            await self._artists.insert_one(doc)
        except DuplicateKeyError:
            existing = await self._artists.find_one({"name_key": sort_key(name)})
            if existing is None:
                raise
            return Artist.from_doc(existing), False
        return Artist.from_doc(doc), True

    async def find_or_create_many(
        self, names: list[str], owner_id: str | None
    ) -> tuple[dict[str, Artist], list[Artist]]:
        """:meth:`find_or_create` for many names in three queries: ({name key: artist}, created ones)."""
        wanted = {sort_key(n): n for n in names}
        found = await self._by_keys(list(wanted))
        new = [self._new(wanted[k], None, [owner_id] if owner_id else []) for k in wanted if k not in found]
        if not new:
            return found, []
        made = [Artist.from_doc(d) for d in new]
        if await insert_all(self._artists, new):
            found.update((sort_key(a.name), a) for a in made)
            return found, made
        # Someone else created some of them meanwhile: theirs win, ours that made it count as created.
        found = await self._by_keys(list(wanted))
        ids = {a.id for a in found.values()}
        return found, [a for a in made if a.id in ids]

    async def _by_keys(self, name_keys: list[str]) -> dict[str, Artist]:
        docs = await self._artists.find(any_of("name_key", name_keys)).to_list(None)
        return {d["name_key"]: Artist.from_doc(d) for d in docs}

    async def get(self, artist_id: str) -> Artist:
        artist = await self.find(artist_id)
        if artist is None:
            raise NotFound("No such artist.")
        return artist

    async def find(self, artist_id: str) -> Artist | None:
        doc = await self._artists.find_one({"_id": artist_id})
        return Artist.from_doc(doc) if doc is not None else None

    async def get_many(self, ids: Sequence[str]) -> list[Artist]:
        if not ids:
            return []
        return [Artist.from_doc(d) for d in await self._artists.find(any_of("_id", ids)).to_list(None)]

    async def page(
        self,
        *,
        name_prefix: str | None,
        owner_id: str | None,
        sort: str,
        limit: int,
        offset: int,
        after: PageCursor | None = None,
    ) -> Page[Artist]:
        """Artists in ``sort`` order (a name prefix, one owner's), from ``after`` or ``offset`` in."""
        flt: dict[str, Any] = {}
        if name_prefix:
            flt["name_key"] = {"$regex": "^" + re.escape(sort_key(name_prefix))}
        if owner_id:
            flt["owner_ids"] = owner_id
        field, direction = sort_field(sort, SORTS)
        docs = await keyset_page(
            self._artists, flt, field, direction, limit=limit, offset=offset, after=after
        )
        return Page(
            [Artist.from_doc(d) for d in docs],
            await self._artists.count_documents(flt),
            PageCursor.after(sort, field, docs, limit),
        )

    async def update(self, artist_id: str, changes: dict[str, Any]) -> Artist:
        check_artist_changes(changes)  # validated before it reaches the store
        changes = dict(changes)
        if "name" in changes:
            changes["name_key"] = sort_key(changes["name"])
        changes["updated_at"] = utcnow()
        try:
            doc = await self._artists.find_one_and_update(
                {"_id": artist_id}, {"$set": changes}, return_document=True
            )
        except DuplicateKeyError as exc:
            raise _taken() from exc
        if doc is None:
            raise NotFound("No such artist.")
        return Artist.from_doc(doc)

    async def delete(self, artist_id: str) -> None:
        result = await self._artists.delete_one({"_id": artist_id})
        if result.deleted_count == 0:
            raise NotFound("No such artist.")
        await self._deletions.record("artist", artist_id)

    @staticmethod
    def _new(name: str, bio: str | None, owner_ids: list[str]) -> dict[str, Any]:
        now = utcnow()
        doc = {
            "_id": new_id(),
            "name": name,
            "name_key": sort_key(name),
            "bio": bio,
            "image": None,
            "owner_ids": owner_ids,
            "created_at": now,
            "updated_at": now,
        }
        Artist.from_doc(doc)  # validated before it reaches the store
        return doc


def _taken() -> Conflict:
    return Conflict("An artist with that name exists.", code="artist_exists", details={"field": "name"})


async def insert_all(collection: Any, docs: list[dict[str, Any]]) -> bool:
    """Insert ``docs`` unordered; False if any collided with a unique index (the rest are inserted)."""
    try:
        await collection.insert_many(docs, ordered=False)
    except (BulkWriteError, DuplicateKeyError):
        return False
    return True
