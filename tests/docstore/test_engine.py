"""The embedded document store on its own: SQL and Python agree, indexes answer pages, writes are atomic.

What MongoDB itself would answer is asked of both backends in tests/server/test_store_semantics.py and
through every store test; here are the properties only the embedded engine has.
"""

from __future__ import annotations

import multiprocessing
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError

from server.docstore import EmbeddedClient
from server.docstore.engine import DocumentFile
from server.docstore.matching import matches, sort_documents
from server.docstore.updating import project

T0 = datetime(2026, 1, 1)


def _random_doc(rng: random.Random, n: int) -> dict:
    doc: dict = {"_id": f"d{n:04d}"}
    if rng.random() < 0.9:
        doc["a"] = rng.choice(
            [None, True, False, 0, 1, 2, 2.5, "x", "y", "Ä", "", T0, T0 + timedelta(days=1)]
        )
    if rng.random() < 0.7:
        doc["b"] = {"c": rng.choice([1, 2, 3, "1"]), "d": rng.choice(["p", "q"])}
    if rng.random() < 0.3:
        doc["tags"] = rng.sample(["r", "s", "t", "u"], rng.randint(0, 3))
    doc["n"] = rng.randint(0, 5)
    return doc


def _random_filter(rng: random.Random, depth: int = 0) -> dict:
    value = lambda: rng.choice([None, True, 0, 1, 2, "x", "y", "", T0, T0 + timedelta(hours=1), "1"])  # noqa: E731
    path = rng.choice(["a", "b.c", "b.d", "tags", "n", "missing", "_id"])
    kind = rng.randrange(10 if depth < 2 else 8)
    if kind == 0:
        return {path: value()}
    if kind == 1:
        return {path: {"$ne": value()}}
    if kind == 2:
        return {path: {rng.choice(["$gt", "$gte", "$lt", "$lte"]): value()}}
    if kind == 3:
        return {path: {"$in": [value() for _ in range(rng.randint(0, 3))]}}
    if kind == 4:
        return {path: {"$nin": [value() for _ in range(rng.randint(1, 3))]}}
    if kind == 5:
        return {path: {"$exists": rng.random() < 0.5}}
    if kind == 6:
        return {"n": {"$gte": rng.randint(0, 5)}, path: value()}
    if kind == 7:
        return {path: {"$regex": rng.choice(["^x", "^d00", "y$", "^"])}}
    if kind == 8:
        return {"$or": [_random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    return {"$and": [_random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


def test_sql_answers_agree_with_the_python_matcher(tmp_path: Path) -> None:
    """Random documents (mixed types, arrays, missing fields) and random filters: whatever SQLite
    decides, through indexes or not, the same documents come back as the matcher picks by hand."""
    rng = random.Random(15)
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.create_index("c", [("a", 1)], "a_1", False, None)
    store.create_index("c", [("b.c", 1), ("n", -1)], "bc_n", False, None)
    docs = [_random_doc(rng, n) for n in range(300)]
    store.insert_many("c", [dict(d) for d in docs], ordered=True)
    every = store.find("c", {})
    assert [d["_id"] for d in every] == [d["_id"] for d in docs]
    for _ in range(400):
        query = _random_filter(rng)
        sort = rng.choice([None, [("a", 1), ("_id", 1)], [("b.c", -1), ("_id", -1)], [("n", 1), ("_id", 1)]])
        expected = [d for d in every if matches(d, query)]
        if sort:
            expected = sort_documents(list(expected), sort)
        got = store.find("c", query, sort=sort)
        if sort and sort[0][0] == "a":
            # A documented departure: SQLite sorts booleans among numbers and dates before strings
            # (MongoDB: numbers < strings < booleans < dates). Fields the stores sort by hold one type.
            assert sorted(d["_id"] for d in got) == sorted(d["_id"] for d in expected), (query, sort)
            continue
        assert [d["_id"] for d in got] == [d["_id"] for d in expected], (query, sort)
        assert store.count("c", query) == len(expected), query
        picked = store.find("c", query, {"a": 1, "b.c": 1, "missing": 1}, sort=sort)
        assert picked == [project(d, {"a": 1, "b.c": 1, "missing": 1}) for d in got], query
        alone = store.find("c", query, {"a": 1, "_id": 0}, sort=sort)
        assert alone == [project(d, {"a": 1, "_id": 0}) for d in got], query
        if expected:
            page = store.find("c", query, sort=sort, skip=1, limit=2)
            assert [d["_id"] for d in page] == [d["_id"] for d in expected[1:3]], (query, sort)
    store.close()


def test_catalog_pages_walk_an_index_and_never_sort(tmp_path: Path) -> None:
    """The plan SQLite makes for a sorted, filtered page reads an index in order: no temporary sort
    (which would read every match first) and no full scan."""
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.create_index("tracks", [("status", 1), ("title_sort", 1), ("_id", 1)], "by_title", False, None)
    store.insert_one("tracks", {"_id": "x", "status": "ready", "title_sort": "a"})
    plan = " | ".join(store.explain("tracks", {"status": "ready"}, [("title_sort", 1), ("_id", 1)]))
    assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
    plan = " | ".join(
        store.explain(
            "tracks", {"status": "ready", "title_sort": {"$gte": "m"}}, [("title_sort", -1), ("_id", -1)]
        )
    )
    assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
    store.close()


def test_unique_and_partial_indexes(tmp_path: Path) -> None:
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.create_index("tracks", [("scan_path", 1)], "path", True, {"scan_path": {"$exists": True}})
    store.insert_one("tracks", {"_id": "1", "scan_path": "/a"})
    store.insert_one("tracks", {"_id": "2"})
    store.insert_one("tracks", {"_id": "3"})  # many documents may lack a partial index's field
    with pytest.raises(DuplicateKeyError) as caught:
        store.insert_one("tracks", {"_id": "4", "scan_path": "/a"})
    assert caught.value.details["keyValue"] == {"scan_path": "/a"}
    with pytest.raises(BulkWriteError) as bulk:
        store.insert_many(
            "tracks", [{"_id": "5", "scan_path": "/b"}, {"_id": "1"}, {"_id": "6"}], ordered=False
        )
    assert [e["index"] for e in bulk.value.details["writeErrors"]] == [1]
    assert sorted(d["_id"] for d in store.find("tracks", {})) == ["1", "2", "3", "5", "6"]
    plan = " | ".join(store.explain("tracks", {"scan_path": "/b"}))
    assert "USING INDEX" in plan, plan
    store.close()


def _claim_many(path: str, count: int) -> None:
    store = DocumentFile(Path(path), "t")
    for _ in range(count):
        store.update("jobs", {"_id": "counter"}, {"$inc": {"n": 1}, "$push": {"log": 1}}, return_after=True)
    store.close()


def test_read_modify_write_is_atomic_across_processes(tmp_path: Path) -> None:
    """Two processes increment and append to one document: no update is lost."""
    path = tmp_path / "t.sqlite3"
    store = DocumentFile(path, "t")
    store.insert_one("jobs", {"_id": "counter", "n": 0, "log": []})
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_claim_many, args=(str(path), 150)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    (doc,) = store.find("jobs", {"_id": "counter"})
    assert doc["n"] == 300 and len(doc["log"]) == 300
    store.close()


async def test_a_tinymongo_data_dir_is_imported_once(tmp_path: Path) -> None:
    """A data dir from the previous embedded engine opens with its documents and unique indexes."""
    from tinymongo import TinyMongoClient

    old = TinyMongoClient(str(tmp_path), "sqlite")
    old["hs"]["users"].insert_one({"_id": "u1", "username_lower": "ann", "created_at": T0})
    old["hs"]["users"].create_index("username_lower", unique=True, name="username_lower_unique")
    old["hs"]["tracks"].insert_many([{"_id": f"t{n}", "n": n} for n in range(3)])
    old.close()

    client = EmbeddedClient(tmp_path)
    db = client["hs"]
    assert await db["users"].find_one({"username_lower": "ann"}) == {
        "_id": "u1",
        "username_lower": "ann",
        "created_at": T0,
    }
    assert await db["tracks"].count_documents({}) == 3
    with pytest.raises(DuplicateKeyError):
        await db["users"].insert_one({"_id": "u2", "username_lower": "ann"})
    assert "username_lower_unique" in await db["users"].index_information()
    await db["tracks"].insert_one({"_id": "t9"})
    await client.close()

    again = EmbeddedClient(tmp_path)  # opened again: not imported a second time
    assert await again["hs"]["tracks"].count_documents({}) == 4
    await again.close()
    assert (tmp_path / "hs.sqlite").exists()


async def test_a_cursor_streams_a_collection_in_batches(tmp_path: Path) -> None:
    client = EmbeddedClient(tmp_path)
    tracks = client["hs"]["tracks"]
    await tracks.insert_many([{"_id": f"t{n:05d}", "n": n, "odd": n % 2 == 1} for n in range(2500)])
    seen = [doc["n"] async for doc in tracks.find({"odd": True}, {"n": 1})]
    assert seen == list(range(1, 2500, 2))
    await client.close()


def test_a_sorted_page_uses_the_index_that_gives_its_order(tmp_path: Path) -> None:
    """An OR of equalities looks selective to SQLite's planner; when it matches most tracks, the page
    still walks the sort index (reading every ready track and sorting them would take seconds at a
    million). When it matches a few (the tracks of two albums), they are fetched by their index."""
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.create_index("tracks", [("status", 1)], "status", False, None)
    store.create_index("tracks", [("owner_id", 1)], "owner", False, None)
    store.create_index("tracks", [("title_sort", 1), ("_id", 1)], "title", False, None)
    store.create_index(
        "tracks", [("artist_id", 1), ("title_sort", 1), ("_id", 1)], "artist_title", False, None
    )
    store.create_index("tracks", [("album_id", 1)], "album", False, None)
    docs = [
        {
            "_id": f"t{n:05d}",
            "status": "ready" if n % 30 else "failed",
            "title_sort": f"title {n * 7919 % 5000:05d}",
            "owner_id": f"u{n % 7}",
            "artist_id": f"a{n % 40}",
            "album_id": f"b{n % 400}",
        }
        for n in range(5000)
    ]
    store.insert_many("tracks", docs, ordered=True)
    visible = {"$or": [{"status": "ready"}, {"owner_id": "u1"}]}
    for query, sort, index in [
        (visible, [("title_sort", -1), ("_id", -1)], "ix:tracks:title"),
        ({"$and": [visible, {"artist_id": "a3"}]}, [("title_sort", 1), ("_id", 1)], "ix:tracks:artist_title"),
    ]:
        plan = " | ".join(store.explain("tracks", query, sort))
        assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan
    few = {"$or": [{"album_id": "b1"}, {"album_id": "b2"}]}
    plan = " | ".join(store.explain("tracks", few, [("title_sort", 1), ("_id", 1)]))
    assert "USING INDEX ix:tracks:album" in plan, plan
    assert [d["_id"] for d in store.find("tracks", few, sort=[("title_sort", 1), ("_id", 1)])] == sorted(
        (d["_id"] for d in docs if d["album_id"] in ("b1", "b2")),
        key=lambda i: (next(d["title_sort"] for d in docs if d["_id"] == i), i),
    )


def test_counts_are_kept_until_the_collection_changes_in_any_process(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    first, second = DocumentFile(path, "t"), DocumentFile(path, "t")
    first.insert_many("tracks", [{"_id": str(n), "status": "ready"} for n in range(5)], ordered=True)
    assert first.count("tracks", {"status": "ready"}) == 5
    second.insert_one("tracks", {"_id": "9", "status": "ready"})
    assert first.count("tracks", {"status": "ready"}) == 6
    second.update("tracks", {"_id": "9"}, {"$set": {"status": "failed"}})
    assert first.count("tracks", {"status": "ready"}) == 5
    second.delete("tracks", {"_id": "0"}, many=False)
    assert first.count("tracks", {"status": "ready"}) == 4
    second.update("tracks", {"_id": "new"}, {"$set": {"status": "ready"}}, upsert=True)
    assert first.count("tracks", {"status": "ready"}) == 5
    second.insert_many(
        "tracks", [{"_id": "a", "status": "ready"}, {"_id": "b", "status": "ready"}], ordered=True
    )
    assert first.count("tracks", {"status": "ready"}) == 7
    first.close()
    second.close()


def test_ten_thousand_ids_in_one_filter(tmp_path: Path) -> None:
    """``$in`` and an ``$or`` of one field's equalities are one SQL ``IN`` through the index: SQLite
    refuses an expression deeper than 1,000, which a flat OR chain of 1,000 terms is. An ``$or`` of
    different fields nests as a balanced tree, and a path holding arrays is matched in Python."""
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.create_index("c", [("k", 1)], "k_1", False, None)
    store.insert_many("c", [{"_id": f"d{n:05d}", "k": n, "tags": [n]} for n in range(12_000)], ordered=True)
    wanted = list(range(0, 20_000, 2))  # 10,000 values, half of them present
    present = [f"d{n:05d}" for n in wanted if n < 12_000]
    assert len(present) == 6000
    for query in (
        {"k": {"$in": wanted}},
        {"$or": [{"k": n} for n in wanted]},
        {"_id": {"$in": [f"d{n:05d}" for n in wanted]}},
        {"$or": [{"_id": f"d{n:05d}"} if n % 4 else {"k": n} for n in wanted]},
        {"tags": {"$in": wanted}},
    ):
        got = store.find("c", query)
        assert [d["_id"] for d in got] == present, next(iter(query))
        assert store.count("c", query) == 6000
    plan = " | ".join(store.explain("c", {"k": {"$in": wanted}}))
    assert "USING INDEX" in plan, plan
    store.close()
