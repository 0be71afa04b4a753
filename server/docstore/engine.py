"""The embedded document store: PyMongo's collection calls answered by one SQLite file per database.

Synchronous and single-connection; :mod:`server.docstore.client` runs it on a thread of its own. Every
write is one ``BEGIN IMMEDIATE`` transaction, so a read-modify-write (``find_one_and_update`` claiming a
job) is atomic across every process that opens the file; WAL lets readers go on meanwhile.

Where it departs from MongoDB, on purpose:
- a unique index lets any number of documents lack its fields (SQLite's NULLs are distinct), as a
  sparse unique index would; MongoDB admits one such document;
- a partial index ``{"f": {"$exists": True}}`` leaves out documents whose ``f`` is null, so that SQLite
  can prove an equality query may use it;
- ``_id`` is generated as a string (an ObjectId's hex), as every store here does anyway;
- a sort on a field that holds values of several types puts booleans among the numbers (as 0/1) and
  dates before strings (MongoDB: numbers < strings < booleans < dates); every field the stores sort
  by holds one type, so SQLite's own order can come straight from an index.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from server.docstore import codec
from server.docstore.matching import matches, sort_documents, values_at
from server.docstore.planning import WALK_SHARE, Statistics, estimate, parse_stat1
from server.docstore.sql import Compiled, compile_filter, compile_sort, field, json_path, sql_path_ok
from server.docstore.subset import check_filter, check_projection, check_sort, check_update
from server.docstore.updating import apply_update, check_replacement, project, upsert_seed

Doc = dict[str, Any]
SortSpec = list[tuple[str, int]]

SCAN_BATCH = 256  # rows read at a time while Python filters what SQL could only narrow
COUNT_CACHE = 512  # totals kept per process, each valid until its collection changes
ANALYSIS_SAMPLE = 1000  # rows ANALYZE reads per index
REANALYSE = 1000  # changes to a collection after which its index statistics are sampled again


@dataclass(frozen=True)
class IndexSpec:
    name: str
    keys: SortSpec
    unique: bool
    partial: Doc | None


@dataclass(frozen=True)
class WriteOutcome:
    matched: int
    modified: int
    upserted_id: Any = None
    document: Doc | None = None


def _check_read(query: Doc, sort: SortSpec | None, projection: Doc | None) -> None:
    """:class:`server.docstore.subset.Unsupported` for anything outside the subset, before any row."""
    check_filter(query)
    check_sort(sort)
    check_projection(projection)


def default_index_name(keys: SortSpec) -> str:
    return "_".join(f"{path}_{direction}" for path, direction in keys)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table(collection: str) -> str:
    return _quote("c:" + collection)


def _array_paths(doc: Doc, prefix: str = "") -> Iterator[str]:
    for key, value in doc.items():
        if isinstance(value, list):
            yield prefix + key
        elif isinstance(value, dict):
            yield from _array_paths(value, prefix + key + ".")


def _picked_paths(projection: Doc | None, arrays: set[str]) -> list[str] | None:
    """The paths an inclusion projection keeps, ``_id`` first, if SQL can read each one out alone."""
    if not projection or not all(v for k, v in projection.items() if k != "_id"):
        return None
    paths = [path for path in projection if path != "_id"]
    if not paths or not all(sql_path_ok(path) for path in paths):
        return None
    for path in paths:
        parts = path.split(".")
        if any(".".join(parts[: i + 1]) in arrays for i in range(len(parts) - 1)):
            return None  # through an array MongoDB projects each element
    return (["_id"] if projection.get("_id", 1) else []) + paths


_ABSENT_FIELD = "\x01M"  # in a picked row: the field is missing (stored strings never start so: codec)


def _picked_sql(paths: list[str]) -> str:
    """The picked values of a row as one JSON array, built by SQLite so that Python parses one text.

    Multi-path ``json_extract`` parses the document once but shows a missing field and a stored null
    alike; only rows with a null in them pay for ``->`` per field, which tells the two apart (SQL NULL
    for missing, here a marker, ``null`` for a stored null).
    """
    quoted = [f"'{json_path(path)}'" for path in paths]
    one_by_one = (
        "'[' || " + " || ',' || ".join(f"coalesce(doc -> {p}, '\"\\u0001M\"')" for p in quoted) + " || ']'"
    )
    if len(paths) == 1:
        return one_by_one  # json_extract of one path gives SQL values (true would read as 1)
    together = f"json_extract(doc, {', '.join(quoted)})"
    return f"CASE WHEN instr({together}, 'null') THEN {one_by_one} ELSE {together} END"


class Picked:
    """How to rebuild a projected document from its picked values (paths split once per query)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self._parts = [tuple(path.split(".")) for path in paths]

    def document(self, text: str) -> Doc:
        out: Doc = {}
        for parts, value in zip(self._parts, json.loads(text), strict=True):
            if value == _ABSENT_FIELD:
                continue
            if len(parts) == 1:
                out[parts[0]] = value
                continue
            node = out
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return codec.decode_value(out) if "\\u0001" in text else out


class DocumentFile:
    """One database: a SQLite file with a table per collection."""

    def __init__(self, path: Path, name: str, busy_timeout: float = 30.0) -> None:
        self.name = name
        self.path = path
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._known: set[str] = set()
        self._arrays_seen: dict[str, set[str]] = {}
        # What the open write transaction added, for the caches once it commits (see _Txn).
        self._pending_known: set[str] = set()
        self._pending_arrays: set[tuple[str, str]] = set()
        self._spec_cache: dict[str, tuple[tuple[Any, ...], list[IndexSpec]]] = {}
        self._counts: dict[tuple[Any, ...], tuple[int, int]] = {}
        self._stats: dict[str, tuple[int, Statistics]] = {}
        with self._write():
            self._conn.execute("CREATE TABLE IF NOT EXISTS _collections (name TEXT PRIMARY KEY)")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS _indexes (collection TEXT, name TEXT, spec TEXT, "
                "PRIMARY KEY (collection, name))"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS _versions (collection TEXT PRIMARY KEY, version INTEGER)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS _arrays (collection TEXT, path TEXT, "
                "PRIMARY KEY (collection, path))"
            )

    def close(self) -> None:
        self._conn.close()

    # -- plumbing -------------------------------------------------------------------------------

    class _Txn:
        """One write transaction. The in-memory caches learn of its changes only once COMMIT succeeded:
        a rolled-back first insert must not leave its table "known", nor a rolled-back array "seen"."""

        def __init__(self, owner: DocumentFile) -> None:
            self._owner = owner

        def __enter__(self) -> None:
            self._owner._pending_known.clear()
            self._owner._pending_arrays.clear()
            self._owner._conn.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind: Any, *_: Any) -> None:
            owner = self._owner
            known, arrays = set(owner._pending_known), set(owner._pending_arrays)
            owner._pending_known.clear()
            owner._pending_arrays.clear()
            if kind is not None:
                if owner._conn.in_transaction:  # SQLite rolls back some failures by itself
                    owner._conn.execute("ROLLBACK")
                return
            try:
                owner._conn.execute("COMMIT")
            except BaseException:
                if owner._conn.in_transaction:
                    owner._conn.execute("ROLLBACK")
                raise
            owner._known |= known
            for collection, path in arrays:
                owner._arrays_seen.setdefault(collection, set()).add(path)

    def _write(self) -> DocumentFile._Txn:
        return DocumentFile._Txn(self)

    def _ensure(self, collection: str) -> None:
        """Create the collection's table on first use (inside a write transaction)."""
        if collection in self._known or collection in self._pending_known:
            return
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_table(collection)} "
            "(rid INTEGER PRIMARY KEY, id UNIQUE NOT NULL, doc TEXT NOT NULL)"
        )
        self._conn.execute("INSERT OR IGNORE INTO _collections VALUES (?)", (collection,))
        self._pending_known.add(collection)

    def _exists(self, collection: str) -> bool:
        if collection in self._known:
            return True
        if collection in self._pending_known:
            return True
        row = self._conn.execute("SELECT 1 FROM _collections WHERE name = ?", (collection,)).fetchone()
        if row is not None:
            # Inside a write transaction the row may be its own, not yet committed.
            (self._pending_known if self._conn.in_transaction else self._known).add(collection)
        return row is not None

    def _bump(self, collection: str) -> None:
        """Count a change to the collection (inside the write transaction that makes it)."""
        self._conn.execute(
            "INSERT INTO _versions VALUES (?, 1) "
            "ON CONFLICT (collection) DO UPDATE SET version = version + 1",
            (collection,),
        )

    def _version(self, collection: str) -> int:
        row = self._conn.execute(
            "SELECT version FROM _versions WHERE collection = ?", (collection,)
        ).fetchone()
        return row[0] if row else 0

    def _arrays(self, collection: str) -> set[str]:
        """Paths that hold an array in some document of the collection (any process may add one)."""
        rows = self._conn.execute("SELECT path FROM _arrays WHERE collection = ?", (collection,))
        found = {path for (path,) in rows}
        if self._conn.in_transaction:  # some may be this transaction's own, not yet committed
            self._pending_arrays.update((collection, path) for path in found)
        else:
            self._arrays_seen.setdefault(collection, set()).update(found)
        return found

    def _note_arrays(self, collection: str, doc: Doc) -> None:
        """Record the array paths of a document being written (inside its write transaction)."""
        seen = self._arrays_seen.get(collection, ())
        for path in _array_paths(doc):
            if path not in seen and (collection, path) not in self._pending_arrays:
                self._conn.execute("INSERT OR IGNORE INTO _arrays VALUES (?, ?)", (collection, path))
                self._pending_arrays.add((collection, path))

    # -- reading --------------------------------------------------------------------------------

    def _select(
        self,
        collection: str,
        query: Doc,
        sort: SortSpec | None,
        skip: int = 0,
        limit: int = 0,
        projection: Doc | None = None,
    ) -> Iterator[tuple[int, Doc]]:
        """(rid, document) of each match in ``sort`` order (else insertion order), skip and limit applied.

        With a ``projection`` the documents come projected; when SQL alone decides the match, only the
        projected fields are read out of the stored JSON (a scan reading path, size and mtime of every
        track decodes a few bytes per track, not the whole document).
        """
        if not self._exists(collection):
            return
        arrays = self._arrays(collection)
        compiled = compile_filter(query, arrays)
        order = compile_sort(sort, arrays, compiled.equalities) if sort else "rid"
        hint = self._sorting_index(collection, query, compiled, sort) if sort and order else ""
        base = f"SELECT rid, doc FROM {_table(collection)}{hint} WHERE {compiled.where}"
        if compiled.exact and order is not None:
            picked = _picked_paths(projection, arrays)
            if picked is not None:
                columns = _picked_sql(picked)
                rebuild = Picked(picked)
                base = f"SELECT rid, {columns} FROM {_table(collection)}{hint} WHERE {compiled.where}"
            rows = self._conn.execute(
                f"{base} ORDER BY {order} LIMIT ? OFFSET ?", [*compiled.params, limit or -1, skip]
            )
            for rid, text in rows:
                if picked is not None:
                    yield rid, rebuild.document(text)
                else:
                    yield rid, project(codec.loads(text), projection)
            return
        yield from (
            (rid, project(doc, projection))
            for rid, doc in self._select_in_python(
                collection, query, compiled, base, order, sort, skip, limit
            )
        )

    def _select_in_python(
        self,
        collection: str,
        query: Doc,
        compiled: Compiled,
        base: str,
        order: str | None,
        sort: SortSpec | None,
        skip: int,
        limit: int,
    ) -> Iterator[tuple[int, Doc]]:
        """Matches that SQL could only narrow: the Python matcher decides (and sorts, if SQL cannot)."""
        if order is not None:
            # SQL orders and narrows; Python decides, stopping as soon as the page is full.
            cursor = self._conn.execute(f"{base} ORDER BY {order}", compiled.params)
            taken = 0
            while batch := cursor.fetchmany(SCAN_BATCH):
                for rid, text in batch:
                    doc = codec.loads(text)
                    if not matches(doc, query):
                        continue
                    if skip:
                        skip -= 1
                        continue
                    yield rid, doc
                    taken += 1
                    if limit and taken >= limit:
                        cursor.close()
                        return
            return
        found = [
            (rid, doc)
            for rid, text in self._conn.execute(base, compiled.params)
            if matches(doc := codec.loads(text), query)
        ]
        rids = {id(doc): rid for rid, doc in found}
        docs = sort_documents([doc for _, doc in found], sort or [])
        end = skip + limit if limit else None
        for doc in docs[skip:end]:
            yield rids[id(doc)], doc

    def _sorting_index(self, collection: str, query: Doc, compiled: Compiled, sort: SortSpec) -> str:
        """``INDEXED BY`` the index that serves ``sort`` after the fields the filter pins, if any.

        SQLite plans without statistics, and guesses that an equality or an OR of equalities matches
        few rows; for "ready tracks by title" it would then read every ready track and sort them.
        MongoDB's planner races its candidate plans and lands on the index that gives the order; this
        gives SQLite the same answer. The longest pinned prefix wins (an artist's tracks by title use
        the artist-and-title index; all tracks by title, the title index). A partial index counts when
        the filter bounds its fields (a range of ``scan_path`` uses the index of scanned paths). An index
        of the sort alone is forced only when the filter may match many (``server/docstore/planning``):
        the covers of 50 albums are better fetched by album and sorted.
        """
        pinned = compiled.equalities
        best: tuple[int, str] | None = None
        sort = [key for key in sort if key[0] not in pinned] or sort[-1:]  # a pinned field orders nothing
        flipped = [(path, -direction) for path, direction in sort]
        for spec in self._index_specs(collection):
            if spec.partial and not set(spec.partial) <= compiled.bounded:
                continue
            prefix = 0
            while prefix < len(spec.keys) and spec.keys[prefix][0] in pinned:
                prefix += 1
            rest = spec.keys[prefix : prefix + len(sort)]
            if rest not in (sort, flipped) or len(rest) != len(sort):
                continue
            if best is None or prefix > best[0]:
                best = (prefix, spec.name)
        if best is not None and best[0] == 0:
            stats = self._statistics(collection)
            if estimate(query, stats) < WALK_SHARE * stats.rows:
                return ""
        return f" INDEXED BY {self._index_sql_name(collection, best[1])}" if best else ""

    def _statistics(self, collection: str) -> Statistics:
        """Rows per key of the collection's indexes, analysed again after every ``REANALYSE`` changes."""
        version = self._version(collection)
        cached = self._stats.get(collection)
        if cached is not None and abs(version - cached[0]) < REANALYSE:
            return cached[1]
        # A sample of each index (analysis_limit): milliseconds, even at a million documents.
        self._conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_SAMPLE}")
        self._conn.execute(f"ANALYZE {_table(collection)}")
        leading = {f"ix:{collection}:{spec.name}": spec.keys[0][0] for spec in self._index_specs(collection)}
        rows = self._conn.execute(
            "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = ?", ("c:" + collection,)
        ).fetchall()
        table_rows = next((int(stat.split()[0]) for _, stat in rows if stat), 0)
        stats = parse_stat1(rows, leading, table_rows, ANALYSIS_SAMPLE)
        self._stats[collection] = (version, stats)
        return stats

    def _index_specs(self, collection: str) -> list[IndexSpec]:
        rows = self._conn.execute(
            "SELECT name, spec FROM _indexes WHERE collection = ? ORDER BY rowid", (collection,)
        ).fetchall()
        key = tuple(rows)
        cached = self._spec_cache.get(collection)
        if cached is None or cached[0] != key:
            specs = []
            for name, spec in rows:
                parsed = json.loads(spec)
                keys = [(path, int(direction)) for path, direction in parsed["keys"]]
                specs.append(IndexSpec(name, keys, parsed["unique"], parsed["partial"]))
            cached = self._spec_cache[collection] = (key, specs)
        return cached[1]

    def find(
        self,
        collection: str,
        query: Doc,
        projection: Doc | None = None,
        sort: SortSpec | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> list[Doc]:
        _check_read(query, sort, projection)
        return [doc for _, doc in self._select(collection, query, sort, skip, limit, projection)]

    def find_after(
        self, collection: str, query: Doc, projection: Doc | None, after_rid: int, count: int
    ) -> tuple[list[Doc], int | None]:
        """Up to ``count`` matches in insertion order after ``after_rid``; the rid to go on from, or None."""
        _check_read(query, None, projection)
        if not self._exists(collection):
            return [], None
        arrays = self._arrays(collection)
        compiled = compile_filter(query, arrays)
        picked = _picked_paths(projection, arrays) if compiled.exact else None
        columns = _picked_sql(picked) if picked else "doc"
        rebuild = Picked(picked) if picked else None
        rows = self._conn.execute(
            f"SELECT rid, {columns} FROM {_table(collection)} WHERE ({compiled.where}) AND rid > ? "
            "ORDER BY rid LIMIT ?",
            [*compiled.params, after_rid, count],
        ).fetchall()
        docs = []
        for _, text in rows:
            if rebuild is not None:
                docs.append(rebuild.document(text))
                continue
            doc = codec.loads(text)
            if compiled.exact or matches(doc, query):
                docs.append(project(doc, projection))
        return docs, (rows[-1][0] if len(rows) == count else None)

    def explain(self, collection: str, query: Doc, sort: SortSpec | None = None) -> list[str]:
        """SQLite's plan for a find, one line per step (empty when the SQL is not exact)."""
        arrays = self._arrays(collection)
        compiled = compile_filter(query, arrays)
        order = compile_sort(sort, arrays, compiled.equalities) if sort else "rid"
        if not compiled.exact or order is None:
            return []
        hint = self._sorting_index(collection, query, compiled, sort) if sort else ""
        rows = self._conn.execute(
            f"EXPLAIN QUERY PLAN SELECT rid, doc FROM {_table(collection)}{hint} WHERE {compiled.where} "
            f"ORDER BY {order} LIMIT 50",
            compiled.params,
        )
        return [row[-1] for row in rows]

    def count(self, collection: str, query: Doc, skip: int = 0, limit: int = 0) -> int:
        check_filter(query)
        if not self._exists(collection):
            return 0
        compiled = compile_filter(query, self._arrays(collection))
        if compiled.exact:
            # Counting a million matches reads a million index entries; a listing asks for the same
            # total page after page, so it is kept until the collection changes (in any process).
            version = self._version(collection)
            key = (collection, compiled.where, *compiled.params, skip, limit)
            cached = self._counts.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            (total,) = self._conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {_table(collection)} WHERE {compiled.where} "
                "LIMIT ? OFFSET ?)",
                [*compiled.params, limit or -1, skip],
            ).fetchone()
            if len(self._counts) >= COUNT_CACHE:
                self._counts.clear()
            self._counts[key] = (version, total)
            return int(total)
        return sum(1 for _ in self._select(collection, query, None, skip, limit))

    # -- writing --------------------------------------------------------------------------------

    def _insert(self, collection: str, doc: Doc) -> None:
        if "_id" not in doc:
            doc["_id"] = str(ObjectId())
        stored = {"_id": doc["_id"], **doc}
        key = codec.encode_value(doc["_id"])
        if isinstance(key, dict | list):
            raise OperationFailure("_id must be a plain value here", code=2)
        try:
            self._conn.execute(
                f"INSERT INTO {_table(collection)} (id, doc) VALUES (?, ?)", (key, codec.dumps(stored))
            )
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(collection, exc, stored) from None
        self._note_arrays(collection, stored)

    def insert_many(self, collection: str, docs: list[Doc], ordered: bool) -> list[Any]:
        errors: list[Doc] = []
        inserted = 0
        with self._write():
            self._ensure(collection)
            for index, doc in enumerate(docs):
                try:
                    self._insert(collection, doc)
                    inserted += 1
                except DuplicateKeyError as exc:
                    errors.append({"index": index, "code": 11000, "errmsg": str(exc), **(exc.details or {})})
                    if ordered:
                        break
            if inserted:
                self._bump(collection)  # one change for the batch
        if errors:
            raise BulkWriteError(
                {
                    "writeErrors": errors,
                    "writeConcernErrors": [],
                    "nInserted": inserted,
                    "nUpserted": 0,
                    "nMatched": 0,
                    "nModified": 0,
                    "nRemoved": 0,
                    "upserted": [],
                }
            )
        return [doc["_id"] for doc in docs]

    def insert_one(self, collection: str, doc: Doc) -> Any:
        with self._write():
            self._ensure(collection)
            self._insert(collection, doc)
            self._bump(collection)
        return doc["_id"]

    def update(
        self,
        collection: str,
        query: Doc,
        update: Doc,
        *,
        many: bool = False,
        upsert: bool = False,
        replace: bool = False,
        sort: SortSpec | None = None,
        return_after: bool | None = None,
        projection: Doc | None = None,
    ) -> WriteOutcome:
        """Update (or replace) the first match, or all with ``many``; optionally insert when none match.

        ``return_after`` asks for the document before (False) or after (True) the change.
        """
        _check_read(query, sort, projection)
        check_replacement(update) if replace else check_update(update)
        with self._write():
            self._ensure(collection)
            targets = list(self._select(collection, query, sort, 0, 0 if many else 1))
            modified = 0
            last: Doc | None = None
            for rid, doc in targets:
                if replace:
                    new = {
                        "_id": doc["_id"],
                        **{k: codec.round_trip(v) for k, v in update.items() if k != "_id"},
                    }
                    if "_id" in update and codec.round_trip(update["_id"]) != doc["_id"]:
                        raise OperationFailure("The _id field cannot be changed", code=66)
                else:
                    new = apply_update(doc, update, inserting=False)
                text = codec.dumps(new)
                if text != codec.dumps(doc):
                    try:
                        self._conn.execute(
                            f"UPDATE {_table(collection)} SET doc = ? WHERE rid = ?", (text, rid)
                        )
                    except sqlite3.IntegrityError as exc:
                        raise self._duplicate(collection, exc, new) from None
                    self._note_arrays(collection, new)
                    self._bump(collection)
                    modified += 1
                last = new if return_after else doc
            if targets:
                shown = project(last, projection) if last is not None and return_after is not None else None
                return WriteOutcome(len(targets), modified, None, shown)
            if not upsert:
                return WriteOutcome(0, 0)
            seed = upsert_seed(query)
            if replace:
                new = {**({"_id": seed["_id"]} if "_id" in seed else {}), **codec.round_trip(update)}
            else:
                new = apply_update(seed, update, inserting=True)
            self._insert(collection, new)
            self._bump(collection)
            shown = project(new, projection) if return_after else None
            return WriteOutcome(0, 0, new["_id"], shown)

    def delete(
        self,
        collection: str,
        query: Doc,
        *,
        many: bool,
        sort: SortSpec | None = None,
        projection: Doc | None = None,
    ) -> tuple[int, Doc | None]:
        _check_read(query, sort, projection)
        if not self._exists(collection):
            return 0, None
        with self._write():
            targets = list(self._select(collection, query, sort, 0, 0 if many else 1))
            for rid, _ in targets:
                self._conn.execute(f"DELETE FROM {_table(collection)} WHERE rid = ?", (rid,))
            if targets:
                self._bump(collection)  # one change for the transaction, however many it removed
        first = project(targets[0][1], projection) if targets else None
        return len(targets), first

    # -- indexes and collections ----------------------------------------------------------------

    def create_index(
        self, collection: str, keys: SortSpec, name: str, unique: bool, partial: Doc | None
    ) -> str:
        spec = IndexSpec(name, keys, unique, partial)
        for path, _ in keys:
            if path != "_id" and not sql_path_ok(path):
                raise OperationFailure(f"cannot index the field {path!r} here", code=67)
        encoded = json.dumps({"keys": keys, "unique": unique, "partial": partial}, default=str)
        with self._write():
            self._ensure(collection)
            row = self._conn.execute(
                "SELECT spec FROM _indexes WHERE collection = ? AND name = ?", (collection, name)
            ).fetchone()
            if row is not None:
                if json.loads(row[0]) != json.loads(encoded):
                    raise OperationFailure(f"An index named {name} exists with different options", code=86)
                return name
            columns = ", ".join(field(path) for path, _ in keys)
            where = self._partial_where(partial) if partial else ""
            try:
                self._conn.execute(
                    f"CREATE {'UNIQUE ' if unique else ''}INDEX {self._index_sql_name(collection, name)} "
                    f"ON {_table(collection)} ({columns}){where}"
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateKeyError(
                    f"E11000 duplicate key error building index {name}: {exc}", 11000
                ) from None
            self._conn.execute("INSERT INTO _indexes VALUES (?, ?, ?)", (collection, name, encoded))
        return spec.name

    @staticmethod
    def _partial_where(partial: Doc) -> str:
        """Only ``{"field": {"$exists": True}}`` is supported, written so equality queries imply it."""
        clauses = []
        for path, condition in partial.items():
            if condition != {"$exists": True} or not sql_path_ok(path):
                raise OperationFailure("only $exists: true partial filters are supported here", code=67)
            clauses.append(f"{field(path)} IS NOT NULL")
        return " WHERE " + " AND ".join(clauses)

    def _index_sql_name(self, collection: str, name: str) -> str:
        return _quote(f"ix:{collection}:{name}")

    def indexes(self, collection: str) -> list[IndexSpec]:
        found = [IndexSpec("_id_", [("_id", 1)], True, None)] if self._exists(collection) else []
        return found + self._index_specs(collection)

    def _duplicate(self, collection: str, exc: sqlite3.IntegrityError, doc: Doc) -> DuplicateKeyError:
        message = str(exc)
        spec = next(
            (s for s in self.indexes(collection) if f"'ix:{collection}:{s.name}'" in message),
            IndexSpec("_id_", [("_id", 1)], True, None),
        )
        key_value = {path: next(iter(values_at(doc, path)), None) for path, _ in spec.keys}
        errmsg = (
            f"E11000 duplicate key error collection: {self.name}.{collection} index: {spec.name} "
            f"dup key: {key_value!r}"
        )
        details = {"code": 11000, "errmsg": errmsg, "keyPattern": dict(spec.keys), "keyValue": key_value}
        return DuplicateKeyError(errmsg, 11000, details)

    def collection_names(self) -> list[str]:
        return [name for (name,) in self._conn.execute("SELECT name FROM _collections ORDER BY name")]

    def drop_collection(self, collection: str) -> None:
        with self._write():
            self._conn.execute(f"DROP TABLE IF EXISTS {_table(collection)}")
            self._conn.execute("DELETE FROM _collections WHERE name = ?", (collection,))
            self._conn.execute("DELETE FROM _indexes WHERE collection = ?", (collection,))
            self._conn.execute("DELETE FROM _arrays WHERE collection = ?", (collection,))
            self._bump(collection)
        self._known.discard(collection)
        self._arrays_seen.pop(collection, None)

    def ping(self) -> float:
        started = time.monotonic()
        self._conn.execute("SELECT 1").fetchone()
        return time.monotonic() - started
