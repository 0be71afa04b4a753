"""The embedded store is a declared subset: what it does not implement is refused before anything runs,
and what it does is the same on every path (SQL or the Python matcher), whatever a transaction did."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from server.docstore import EmbeddedClient
from server.docstore.engine import DocumentFile
from server.docstore.subset import Unsupported

T0 = datetime(2026, 3, 1, 12, 0, 0)


@pytest.mark.parametrize("option", ["session", "array_filters", "collation", "hint", "let", "comment"])
async def test_options_it_does_not_implement_are_refused(tmp_path: Path, option: str) -> None:
    client = EmbeddedClient(tmp_path)
    coll = client["hs"]["c"]
    await coll.insert_one({"_id": "a", "n": 1})
    calls = [
        lambda: coll.find({}, **{option: 1}).to_list(None),
        lambda: coll.find_one({}, **{option: 1}),
        lambda: coll.count_documents({}, **{option: 1}),
        lambda: coll.update_one({"_id": "a"}, {"$set": {"n": 2}}, **{option: 1}),
        lambda: coll.update_many({}, {"$set": {"n": 2}}, **{option: 1}),
        lambda: coll.find_one_and_update({}, {"$set": {"n": 2}}, **{option: 1}),
        lambda: coll.delete_many({}, **{option: 1}),
        lambda: coll.insert_one({"_id": "b"}, **{option: 1}),
    ]
    for call in calls:
        with pytest.raises(Unsupported, match=f"{option}="):
            await call()
    assert await coll.find({}).to_list(None) == [{"_id": "a", "n": 1}]  # nothing ran
    assert await coll.find({}, session=None).to_list(None)  # None is "not given", as in PyMongo
    await client.close()


@pytest.mark.parametrize(
    "query",
    [
        {"a": {"$type": "string"}},
        {"$expr": {"$gt": ["$a", 1]}},
        {"$where": "this.a > 1"},
        {"$text": {"$search": "x"}},
        {"a": {"$elemMatch": {"$mod": [2, 0]}}},
        {"$or": [{"a": 1}, {"a": {"$geoWithin": {}}}]},
        {"a": {"$not": {"$bitsAllSet": 1}}},
    ],
)
def test_operators_it_does_not_implement_are_refused_before_any_row(tmp_path: Path, query: dict) -> None:
    """Also on an empty or absent collection (the answer was a silent [] there), on every call."""
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    for collection in ("absent", "empty", "full"):
        if collection != "absent":
            store.insert_one(collection, {"_id": "x", "a": 1})
        if collection == "empty":
            store.delete(collection, {}, many=True)
        calls = (
            (store.find, (collection, query), {}),
            (store.count, (collection, query), {}),
            (store.find_after, (collection, query, None, 0, 10), {}),
            (store.update, (collection, query, {"$set": {"b": 1}}), {"many": True}),
            (store.delete, (collection, query), {"many": True}),
        )
        for call, args, kwargs in calls:
            with pytest.raises(Unsupported):
                call(*args, **kwargs)
    assert store.find("full", {}) == [{"_id": "x", "a": 1}]
    store.close()


def test_updates_sorts_and_projections_outside_the_subset_are_refused(tmp_path: Path) -> None:
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.insert_one("c", {"_id": "x", "a": [1, 2]})
    for update in (
        {"$currentDate": {"at": True}},
        {"$bit": {"n": {"and": 1}}},
        {"$set": {"a.$[i]": 3}},
        {"$set": {"a.$": 3}},
        {"$push": {"a": {"$each": [3], "$unknown": 1}}},
        {"$addToSet": {"a": {"$each": [3], "$sort": 1}}},
    ):
        with pytest.raises(Unsupported):
            store.update("c", {}, update)
    with pytest.raises(Unsupported):
        store.find("c", {}, sort=[("a", {"$meta": "textScore"})])  # type: ignore[list-item]
    with pytest.raises(Unsupported):
        store.find("c", {}, {"a": {"$slice": 1}})
    with pytest.raises(OperationFailure):
        store.find("c", {}, {"a": 1, "b": 0})
    assert store.find("c", {}) == [{"_id": "x", "a": [1, 2]}]
    store.close()


def test_push_sorts_with_each(tmp_path: Path) -> None:
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.insert_one("c", {"_id": "x", "n": [5, 1], "d": [{"k": 2}]})
    store.update("c", {}, {"$push": {"n": {"$each": [3, 9], "$sort": -1, "$slice": 3}}})
    store.update("c", {}, {"$push": {"d": {"$each": [{"k": 1}, {"k": 3}], "$sort": {"k": 1}}}})
    assert store.find("c", {}) == [{"_id": "x", "n": [9, 5, 3], "d": [{"k": 1}, {"k": 2}, {"k": 3}]}]
    store.close()


def test_aware_and_naive_dates_give_the_same_answers_on_every_path(tmp_path: Path) -> None:
    """``at`` is answered by SQL, ``ats`` (an array path) by the Python matcher; an aware date is the
    instant it names, as BSON stores it."""
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.insert_many(
        "c",
        [{"_id": str(n), "at": T0 + timedelta(hours=n), "ats": [T0 + timedelta(hours=n)]} for n in range(4)],
        ordered=True,
    )
    plus2 = timezone(timedelta(hours=2))
    for bound in (
        T0 + timedelta(hours=2),
        (T0 + timedelta(hours=4)).replace(tzinfo=plus2),
        (T0 + timedelta(hours=2)).replace(tzinfo=UTC),
    ):
        for path in ("at", "ats"):
            got = [d["_id"] for d in store.find("c", {path: {"$lt": bound}})]
            assert got == ["0", "1"], (path, bound)
            assert [d["_id"] for d in store.find("c", {path: bound})] == ["2"]
            assert [d["_id"] for d in store.find("c", {path: {"$in": [bound]}})] == ["2"]
    store.close()


def test_a_rolled_back_first_insert_leaves_the_collection_usable(tmp_path: Path) -> None:
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    with pytest.raises(OperationFailure):
        store.insert_one("fresh", {"_id": {"not": "plain"}})  # fails after the table was created
    store.insert_one("fresh", {"_id": "ok"})  # was: "no such table" from then on
    assert store.find("fresh", {}) == [{"_id": "ok"}]
    store.close()


def test_a_rolled_back_first_array_still_gets_recorded_later(tmp_path: Path) -> None:
    """A write that set a field to an array and then rolled back must not leave the field "seen" as
    an array: the next such write records it, and equality on an element matches, in every process."""
    path = tmp_path / "t.sqlite3"
    store = DocumentFile(path, "t")
    store.insert_many("c", [{"_id": "a", "n": 1}, {"_id": "b", "n": "text"}], ordered=True)
    with pytest.raises(OperationFailure):  # "a" gets its array, then "b" fails: all rolled back
        store.update("c", {}, {"$set": {"tags": ["x"]}, "$inc": {"n": 1}}, many=True)
    assert store.find("c", {"tags": {"$exists": True}}) == []
    store.update("c", {"_id": "a"}, {"$set": {"tags": ["x", "y"]}})
    assert [d["_id"] for d in store.find("c", {"tags": "y"})] == ["a"]
    other = DocumentFile(path, "t")  # another process opening the file
    assert [d["_id"] for d in other.find("c", {"tags": "y"})] == ["a"]
    other.close()
    store.close()


async def test_a_locked_file_is_a_dependency_unavailable(tmp_path: Path) -> None:
    """Another process holding the write lock past the busy timeout: MongoDB's "unavailable" error
    (the app answers 503 with Retry-After), not a 500."""
    client = EmbeddedClient(tmp_path, busy_timeout=0.2)
    await client["hs"]["c"].insert_one({"_id": "a"})
    holder = sqlite3.connect(tmp_path / "hs.documents.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AutoReconnect, match="locked"):
            await client["hs"]["c"].insert_one({"_id": "b"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await client["hs"]["c"].insert_one({"_id": "b"})
    await client.close()


def _open_and_count(folder: str, out: multiprocessing.Queue) -> None:
    import asyncio

    async def run() -> int:
        client = EmbeddedClient(folder)
        try:
            return await client["hs"]["tracks"].count_documents({})
        finally:
            await client.close()

    out.put(asyncio.run(run()))


def test_an_old_data_dir_is_imported_once_by_processes_starting_together(tmp_path: Path) -> None:
    from tinymongo import TinyMongoClient

    old = TinyMongoClient(str(tmp_path), "sqlite")
    old["hs"]["tracks"].insert_many([{"_id": f"t{n}", "n": n} for n in range(300)])
    old.close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_open_and_count, args=(str(tmp_path), out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert sorted(out.get(timeout=5) for _ in procs) == [300] * 4
    assert not list(tmp_path.glob("*.importing*"))


def test_ranges_of_text_keep_the_empty_string_and_leave_dates_out(tmp_path: Path) -> None:
    """Found by the differential test: the empty string lies below the bound that keeps text apart
    from the tagged dates, so ``{"$lte": "ab"}`` left it out and ``{"$gt": ""}`` took dates in."""
    store = DocumentFile(tmp_path / "t.sqlite3", "t")
    store.insert_many(
        "c",
        [{"_id": "e", "b": ""}, {"_id": "a", "b": "a"}, {"_id": "n", "b": 1}, {"_id": "d", "b": T0}],
        ordered=True,
    )
    for query, want in (
        ({"$gte": ""}, ["e", "a"]),
        ({"$gt": ""}, ["a"]),
        ({"$lte": "ab"}, ["e", "a"]),
        ({"$lte": ""}, ["e"]),
        ({"$lt": ""}, []),
        ({"$gte": "", "$lte": "ab"}, ["e", "a"]),
    ):
        assert [d["_id"] for d in store.find("c", {"b": query})] == want, query
    store.close()
