"""MongoDB's documented behaviour that the stores rely on, asked of each backend directly.

These pin down, at the driver level, what the rest of the suite meets through the app: on a real
MongoDB (``HS_TEST_MONGO_URL``) every one holds; where the nx-27017 stand-in departs from the
documentation the test says so with ``standin_deviation`` and docs/MONGODB.md lists it.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from server.handles import open_database
from tests.services import (
    COMPOUND_ID,
    DATE_COMPARISON,
    INDEX_NAME,
    MULTIKEY_EQUALITY,
    NESTED_PROJECTION,
    NULL_BESIDE,
    SET_TYPES,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678000)


async def test_dates_keep_milliseconds_and_come_back_naive(settings):
    async with open_database(settings) as db:
        await db["probe"].insert_one({"_id": "a", "at": datetime(2026, 1, 2, 3, 4, 5, 678901)})
        got = await db["probe"].find_one({"_id": "a"})
    # BSON dates hold milliseconds; a client without tz_aware gives naive UTC back.
    assert got["at"] == WHEN and got["at"].tzinfo is None


@pytest.mark.standin_deviation(reason=SET_TYPES)
async def test_set_keeps_dates_and_booleans(settings):
    async with open_database(settings) as db:
        await db["probe"].insert_one({"_id": "a"})
        await db["probe"].update_one({"_id": "a"}, {"$set": {"at": WHEN, "flag": True}})
        got = await db["probe"].find_one({"_id": "a"})
    assert got["at"] == WHEN and got["flag"] is True


@pytest.mark.standin_deviation(reason=DATE_COMPARISON)
async def test_dates_compare(settings):
    async with open_database(settings) as db:
        # Milliseconds apart, as listens are (history pages on by ``played_at``).
        for n in range(3):
            await db["probe"].insert_one({"_id": str(n), "at": WHEN.replace(microsecond=n * 1000)})
        before = WHEN.replace(microsecond=2000)
        found = await db["probe"].find({"at": {"$lt": before}}).sort("at", -1).to_list(None)
    assert [d["_id"] for d in found] == ["1", "0"]


@pytest.mark.standin_deviation(reason=NESTED_PROJECTION)
async def test_projected_embedded_fields_stay_embedded(settings):
    async with open_database(settings) as db:
        await db["probe"].insert_one({"_id": "a", "original": {"size": 3, "mtime_ns": 2**62, "path": "x"}})
        got = await db["probe"].find_one({"_id": "a"}, {"original.size": 1, "original.mtime_ns": 1})
    assert got == {"_id": "a", "original": {"size": 3, "mtime_ns": 2**62}}


@pytest.mark.standin_deviation(reason=MULTIKEY_EQUALITY)
async def test_an_indexed_array_matches_any_of_its_elements(settings):
    async with open_database(settings) as db:
        await db["probe"].create_index("owner_ids", name="probe_owner")
        await db["probe"].insert_one({"_id": "a", "owner_ids": ["u1", "u2"]})
        await db["probe"].insert_one({"_id": "b", "owner_ids": []})
        await db["probe"].update_one({"_id": "b"}, {"$addToSet": {"owner_ids": "u2"}})
        found = await db["probe"].find({"owner_ids": "u2"}).sort("_id", 1).to_list(None)
    assert [d["_id"] for d in found] == ["a", "b"]


@pytest.mark.standin_deviation(reason=INDEX_NAME)
async def test_indexes_carry_the_names_given(settings):
    async with open_database(settings) as db:
        await db["probe"].create_index([("a", 1), ("b", 1)], name="probe_a_b")
        names = set((await db["probe"].index_information()).keys())
    assert "probe_a_b" in names


async def test_in_and_or_of_ids_match_the_same(settings):
    async with open_database(settings) as db:
        for n in range(5):
            await db["probe"].insert_one({"_id": str(n), "n": n})
        by_in = await db["probe"].find({"_id": {"$in": ["1", "3", "9"]}}).sort("_id", 1).to_list(None)
        by_or = (
            await db["probe"]
            .find({"$or": [{"_id": "1"}, {"_id": "3"}, {"_id": "9"}]})
            .sort("_id", 1)
            .to_list(None)
        )
    assert [d["n"] for d in by_in] == [d["n"] for d in by_or] == [1, 3]


@pytest.mark.standin_deviation(reason=COMPOUND_ID)
async def test_a_compound_index_may_end_in_the_id(settings):
    async with open_database(settings) as db:
        await db["probe"].create_index([("a", 1), ("_id", 1)], name="probe_a_id")
        await db["probe"].insert_one({"_id": "x", "a": 1})
        assert await db["probe"].count_documents({"a": 1}) == 1


@pytest.mark.standin_deviation(reason=NULL_BESIDE)
async def test_null_matches_null_and_missing_beside_another_condition(settings):
    async with open_database(settings) as db:
        await db["probe"].insert_many([{"_id": "a", "v": None}, {"_id": "b"}, {"_id": "c", "v": 1}])
        found = await db["probe"].find({"v": None, "_id": {"$gt": ""}}).sort("_id", 1).to_list(None)
        spelled_in = await db["probe"].find({"v": {"$in": [None]}, "_id": {"$gt": ""}}).to_list(None)
    assert [d["_id"] for d in found] == ["a", "b"]
    assert sorted(d["_id"] for d in spelled_in) == ["a", "b"]
