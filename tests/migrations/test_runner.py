"""Migrations apply once, in order, even when several processes start together."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from migrations import MIGRATIONS, apply_pending
from server.handles import open_database
from tests.services import INDEX_NAME


async def test_concurrent_starts_apply_each_migration_once(settings):
    async with AsyncExitStack() as stack:
        # Separate clients, as separate processes would have.
        dbs = [await stack.enter_async_context(open_database(settings)) for _ in range(3)]
        results = await asyncio.gather(*(apply_pending(db) for db in dbs))
        applied = [m for result in results for m in result]
        assert sorted(applied) == [m.id for m in MIGRATIONS]
        assert await apply_pending(dbs[0]) == []
        records = await dbs[0]["migrations"].find({}).to_list(None)
        assert sorted(r["_id"] for r in records) == [m.id for m in MIGRATIONS]


@pytest.mark.standin_deviation(reason=INDEX_NAME)
async def test_users_indexes_are_unique(settings):
    async with open_database(settings) as db:
        await apply_pending(db)
        info = await db["users"].index_information()
        unique = {name for name, spec in info.items() if spec.get("unique")}
        assert {"username_lower_unique", "email_lower_unique"} <= unique
