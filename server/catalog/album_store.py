"""The ``albums`` collection. The only code that reads or writes album documents.

An album document::

    {_id, title, title_key (unique per artist: case- and accent-insensitive), artist_id,
     release_year | None, owner_ids: [user ids that manage it], created_at, updated_at}

Reads answer :class:`media.records.Album` records; documents never leave this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.errors import DuplicateKeyError

from media.records import Album, check_album_changes
from server.catalog.artist_store import insert_all
from server.catalog.deletions import Deletions
from server.catalog.names import sort_key
from server.catalog.paging import Page, PageCursor, keyset_page, sort_field
from server.documents import any_of, new_id, utcnow
from server.errors import Conflict, NotFound
from server.handles import Database

SORTS = {"title": "title_key", "release_year": "release_year", "created_at": "created_at"}


class AlbumStore:
    def __init__(self, db: Database) -> None:
        self._albums = db["albums"]
        self._deletions = Deletions(db)

    async def create(
        self, *, title: str, artist_id: str, release_year: int | None, owner_ids: list[str]
    ) -> Album:
        """A new album; :class:`Conflict` if the artist already has one with this title."""
        doc = self._new(title, artist_id, release_year, owner_ids)
        try:
            await self._albums.insert_one(doc)
        except DuplicateKeyError as exc:
            raise _taken() from exc
        return Album.from_doc(doc)

    async def find_or_create(
        self, title: str, artist_id: str, release_year: int | None, owner_id: str | None
    ) -> tuple[Album, bool]:
        """The artist's album called ``title`` (case-insensitively), created if unknown: (album, created)."""
        flt = {"artist_id": artist_id, "title_key": sort_key(title)}
        existing = await self._albums.find_one(flt)
        if existing is not None:
            return Album.from_doc(existing), False
        doc = self._new(title, artist_id, release_year, [owner_id] if owner_id else [])
        try:
            await self._albums.insert_one(doc)
        except DuplicateKeyError:
            existing = await self._albums.find_one(flt)
            if existing is None:
                raise
            return Album.from_doc(existing), False
        return Album.from_doc(doc), True

    async def find_or_create_many(
        self, wanted: list[tuple[str, str, int | None]], owner_id: str | None
    ) -> tuple[dict[tuple[str, str], Album], list[Album]]:
        """Many (title, artist id, year) at once: ({(artist id, title key): album}, created ones)."""
        by_key = {(artist_id, sort_key(title)): (title, year) for title, artist_id, year in wanted}
        found = await self._by_keys(list(by_key))
        owners = [owner_id] if owner_id else []
        new = [self._new(t, a, y, owners) for (a, k), (t, y) in by_key.items() if (a, k) not in found]
        if not new:
            return found, []
        made = [Album.from_doc(d) for d in new]
        if await insert_all(self._albums, new):
            found.update(((a.artist_id, sort_key(a.title)), a) for a in made)
            return found, made
        found = await self._by_keys(list(by_key))
        ids = {a.id for a in found.values()}
        return found, [a for a in made if a.id in ids]

    async def _by_keys(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Album]:
        artist_ids = list({a for a, _ in keys})
        title_keys = list({k for _, k in keys})
        docs = await self._albums.find(
            {"artist_id": {"$in": artist_ids}, "title_key": {"$in": title_keys}}
        ).to_list(None)
        wanted = set(keys)
        return {
            (d["artist_id"], d["title_key"]): Album.from_doc(d)
            for d in docs
            if (d["artist_id"], d["title_key"]) in wanted
        }

    async def get(self, album_id: str) -> Album:
        album = await self.find(album_id)
        if album is None:
            raise NotFound("No such album.")
        return album

    async def find(self, album_id: str) -> Album | None:
        doc = await self._albums.find_one({"_id": album_id})
        return Album.from_doc(doc) if doc is not None else None

    async def get_many(self, ids: Sequence[str]) -> list[Album]:
        if not ids:
            return []
        return [Album.from_doc(d) for d in await self._albums.find(any_of("_id", ids)).to_list(None)]

    async def page(
        self, *, artist_id: str | None, sort: str, limit: int, offset: int, after: PageCursor | None = None
    ) -> Page[Album]:
        """Albums in ``sort`` order (of one artist, or all), from ``after`` or ``offset`` in."""
        flt: dict[str, Any] = {"artist_id": artist_id} if artist_id else {}
        field, direction = sort_field(sort, SORTS)
        docs = await keyset_page(self._albums, flt, field, direction, limit=limit, offset=offset, after=after)
        return Page(
            [Album.from_doc(d) for d in docs],
            await self._albums.count_documents(flt),
            PageCursor.after(sort, field, docs, limit),
        )

    async def count_of_artist(self, artist_id: str) -> int:
        return int(await self._albums.count_documents({"artist_id": artist_id}))

    async def update(self, album_id: str, changes: dict[str, Any]) -> Album:
        check_album_changes(changes)  # validated before it reaches the store
        changes = dict(changes)
        if "title" in changes:
            changes["title_key"] = sort_key(changes["title"])
        changes["updated_at"] = utcnow()
        try:
            doc = await self._albums.find_one_and_update(
                {"_id": album_id}, {"$set": changes}, return_document=True
            )
        except DuplicateKeyError as exc:
            raise _taken() from exc
        if doc is None:
            raise NotFound("No such album.")
        return Album.from_doc(doc)

    async def delete(self, album_id: str) -> None:
        result = await self._albums.delete_one({"_id": album_id})
        if result.deleted_count == 0:
            raise NotFound("No such album.")
        await self._deletions.record("album", album_id)

    @staticmethod
    def _new(title: str, artist_id: str, release_year: int | None, owner_ids: list[str]) -> dict[str, Any]:
        now = utcnow()
        doc = {
            "_id": new_id(),
            "title": title,
            "title_key": sort_key(title),
            "artist_id": artist_id,
            "release_year": release_year,
            "owner_ids": owner_ids,
            "created_at": now,
            "updated_at": now,
        }
        Album.from_doc(doc)  # validated before it reaches the store
        return doc


def _taken() -> Conflict:
    return Conflict(
        "This artist already has an album with that title.", code="album_exists", details={"field": "title"}
    )
