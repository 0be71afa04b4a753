"""PyMongo's async client shape over :class:`server.docstore.engine.DocumentFile`.

``EmbeddedClient(folder)[db][collection]`` answers the calls the stores make, with PyMongo's result
types and errors, so they run unchanged on MongoDB and here. Each client runs its SQLite connection on
one thread of its own: calls from the event loop queue there and never block the loop.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from pymongo.errors import AutoReconnect
from pymongo.results import DeleteResult, InsertManyResult, InsertOneResult, UpdateResult

from server.docstore.engine import Doc, DocumentFile, SortSpec, default_index_name
from server.docstore.subset import Unsupported, check_options

T = TypeVar("T")

_UNAVAILABLE = re.compile(r"locked|busy|disk I/O error|unable to open", re.IGNORECASE)
"""SQLite's errors of a file that cannot be reached right now (another writer held it past the busy
timeout, the disk failed); "database or disk is full" is not one: that is 507 (server/disk.py)."""

STREAM_BATCH = 1000  # documents fetched per trip while iterating a cursor
MAX_ROWS = 2**62


def _sort_spec(key: Any, direction: int | None = None) -> SortSpec:
    if isinstance(key, str):
        return [(key, direction if direction is not None else 1)]
    return [(k, int(d)) for k, d in (key.items() if isinstance(key, dict) else key)]


def _projection(projection: Any) -> Doc | None:
    if projection is None or isinstance(projection, dict):
        return projection
    return {name: 1 for name in projection}


class EmbeddedClient:
    """One folder of databases, ``<name>.documents.sqlite3`` each."""

    def __init__(self, folder: str | Path, *, busy_timeout: float = 30.0) -> None:
        self._folder = Path(folder)
        self._busy_timeout = busy_timeout
        """Seconds a call waits for another process's write before it is 503 (``AutoReconnect``)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docstore")
        self._files: dict[str, DocumentFile] = {}
        self._databases: dict[str, EmbeddedDatabase] = {}

    def __getitem__(self, name: str) -> EmbeddedDatabase:
        if name not in self._databases:
            self._databases[name] = EmbeddedDatabase(self, name)
        return self._databases[name]

    get_database = __getitem__

    def file(self, name: str) -> DocumentFile:
        """The open file of database ``name`` (opened on first use; call on the client's thread)."""
        if name not in self._files:
            from server.docstore.legacy import import_legacy

            self._folder.mkdir(parents=True, exist_ok=True)
            path = self._folder / f"{name}.documents.sqlite3"
            import_legacy(self._folder, name, path)
            self._files[name] = DocumentFile(path, name, self._busy_timeout)
        return self._files[name]

    async def run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(call, *args, **kwargs))
        except sqlite3.OperationalError as exc:
            if _UNAVAILABLE.search(str(exc)):
                # The same "dependency unavailable" as MongoDB's driver gives: 503 with Retry-After.
                raise AutoReconnect(f"the embedded store is unavailable: {exc}") from exc
            raise

    async def drop_database(self, name: str) -> None:
        def drop() -> None:
            opened = self.file(name)
            for collection in opened.collection_names():
                opened.drop_collection(collection)

        await self.run(drop)

    async def close(self) -> None:
        def close_all() -> None:
            for opened in self._files.values():
                opened.close()
            self._files.clear()

        await self.run(close_all)
        self._executor.shutdown(wait=True)


class EmbeddedDatabase:
    def __init__(self, client: EmbeddedClient, name: str) -> None:
        self.client = client
        self.name = name

    def __getitem__(self, name: str) -> EmbeddedCollection:
        return EmbeddedCollection(self, name)

    get_collection = __getitem__

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            return getattr(self.client.file(self.name), method)(*args, **kwargs)

        return await self.client.run(call)

    async def command(self, command: str | dict[str, Any], **options: Any) -> dict[str, Any]:
        check_options("command", options)
        name = command if isinstance(command, str) else next(iter(command))
        if name != "ping":
            raise Unsupported(f"the command {name!r} (only 'ping')")
        await self._call("ping")
        return {"ok": 1.0}

    async def list_collection_names(self) -> list[str]:
        return cast(list[str], await self._call("collection_names"))

    async def drop_collection(self, name: str) -> None:
        await self._call("drop_collection", name)


class EmbeddedCollection:
    def __init__(self, database: EmbeddedDatabase, name: str) -> None:
        self.database = database
        self.name = name

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.database._call(method, self.name, *args, **kwargs)

    def find(
        self,
        filter: Doc | None = None,
        projection: Any = None,
        *,
        sort: Any = None,
        skip: int = 0,
        limit: int = 0,
        **options: Any,
    ) -> EmbeddedCursor:
        check_options("find", options)
        cursor = EmbeddedCursor(self, filter or {}, _projection(projection))
        if sort is not None:
            cursor.sort(sort)
        return cursor.skip(skip).limit(limit)

    async def find_one(self, filter: Doc | None = None, projection: Any = None, **kwargs: Any) -> Doc | None:
        # find() checks the options.
        found = await self.find(filter, projection, **kwargs).limit(1).to_list(1)
        return found[0] if found else None

    async def count_documents(self, filter: Doc, *, skip: int = 0, limit: int = 0, **options: Any) -> int:
        check_options("count_documents", options)
        return int(await self._call("count", filter, min(skip, MAX_ROWS), min(limit, MAX_ROWS)))

    async def insert_one(self, document: Doc, **options: Any) -> InsertOneResult:
        check_options("insert_one", options)
        return InsertOneResult(await self._call("insert_one", document), True)

    async def insert_many(
        self, documents: list[Doc], ordered: bool = True, **options: Any
    ) -> InsertManyResult:
        check_options("insert_many", options)
        docs = list(documents)
        if not docs:
            raise TypeError("documents must be a non-empty list")
        return InsertManyResult(await self._call("insert_many", docs, ordered), True)

    async def _update(self, filter: Doc, update: Doc, **options: Any) -> UpdateResult:
        outcome = await self._call("update", filter, update, **options)
        raw: dict[str, Any] = {
            "n": outcome.matched + (outcome.upserted_id is not None),
            "nModified": outcome.modified,
        }
        if outcome.upserted_id is not None:
            raw["upserted"] = outcome.upserted_id
        return UpdateResult(raw, True)

    async def update_one(
        self, filter: Doc, update: Doc, upsert: bool = False, **options: Any
    ) -> UpdateResult:
        check_options("update_one", options)
        return await self._update(filter, update, upsert=upsert)

    async def update_many(
        self, filter: Doc, update: Doc, upsert: bool = False, **options: Any
    ) -> UpdateResult:
        check_options("update_many", options)
        return await self._update(filter, update, many=True, upsert=upsert)

    async def replace_one(
        self, filter: Doc, replacement: Doc, upsert: bool = False, **options: Any
    ) -> UpdateResult:
        check_options("replace_one", options)
        return await self._update(filter, replacement, upsert=upsert, replace=True)

    async def find_one_and_update(
        self,
        filter: Doc,
        update: Doc,
        projection: Any = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = False,
        **options: Any,
    ) -> Doc | None:
        check_options("find_one_and_update", options)
        outcome = await self._call(
            "update",
            filter,
            update,
            upsert=upsert,
            sort=_sort_spec(sort) if sort is not None else None,
            return_after=bool(return_document),
            projection=_projection(projection),
        )
        return cast(Doc | None, outcome.document)

    async def find_one_and_delete(
        self, filter: Doc, projection: Any = None, sort: Any = None, **options: Any
    ) -> Doc | None:
        check_options("find_one_and_delete", options)
        _, doc = await self._call(
            "delete",
            filter,
            many=False,
            sort=_sort_spec(sort) if sort is not None else None,
            projection=_projection(projection),
        )
        return cast(Doc | None, doc)

    async def delete_one(self, filter: Doc, **options: Any) -> DeleteResult:
        check_options("delete_one", options)
        count, _ = await self._call("delete", filter, many=False)
        return DeleteResult({"n": count}, True)

    async def delete_many(self, filter: Doc, **options: Any) -> DeleteResult:
        check_options("delete_many", options)
        count, _ = await self._call("delete", filter, many=True)
        return DeleteResult({"n": count}, True)

    async def create_index(
        self,
        keys: Any,
        *,
        name: str | None = None,
        unique: bool = False,
        partialFilterExpression: Doc | None = None,
        **options: Any,
    ) -> str:
        check_options("create_index", options)
        spec = _sort_spec(keys)
        created = await self._call(
            "create_index", spec, name or default_index_name(spec), unique, partialFilterExpression
        )
        return cast(str, created)

    async def index_information(self) -> dict[str, Any]:
        specs = await self._call("indexes")
        info: dict[str, Any] = {}
        for spec in specs:
            entry: dict[str, Any] = {"key": list(spec.keys)}
            if spec.unique and spec.name != "_id_":
                entry["unique"] = True
            if spec.partial:
                entry["partialFilterExpression"] = spec.partial
            info[spec.name] = entry
        return info

    async def drop(self) -> None:
        await self.database.drop_collection(self.name)


class EmbeddedCursor:
    """A lazy query: ``sort``/``skip``/``limit`` chain, ``to_list`` or ``async for`` runs it."""

    def __init__(self, collection: EmbeddedCollection, filter: Doc, projection: Doc | None) -> None:
        self._collection = collection
        self._filter = filter
        self._projection = projection
        self._sort: SortSpec | None = None
        self._skip = 0
        self._limit = 0

    def sort(self, key: Any, direction: int | None = None) -> EmbeddedCursor:
        self._sort = _sort_spec(key, direction)
        return self

    def skip(self, count: int) -> EmbeddedCursor:
        self._skip = min(count, MAX_ROWS)  # SQLite counts in 64 bits; no collection is that long
        return self

    def limit(self, count: int) -> EmbeddedCursor:
        self._limit = min(abs(count), MAX_ROWS)
        return self

    def batch_size(self, _: int) -> EmbeddedCursor:
        return self

    async def to_list(self, length: int | None = None) -> list[Doc]:
        limit = self._limit
        if length:
            limit = min(limit, length) if limit else length
        found = await self._collection._call(
            "find", self._filter, self._projection, self._sort, self._skip, limit
        )
        return cast(list[Doc], found)

    async def __aiter__(self) -> AsyncIterator[Doc]:
        if self._sort or self._skip or self._limit:
            # Ordered or windowed: one query (the callers that stream whole collections use neither).
            for doc in await self.to_list():
                yield doc
            return
        after = 0
        while True:
            docs, next_after = await self._collection._call(
                "find_after", self._filter, self._projection, after, STREAM_BATCH
            )
            for doc in docs:
                yield doc
            if next_after is None:
                return
            after = next_after
