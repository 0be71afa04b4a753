"""Finds the migration modules, takes the lease, applies what is pending, records it."""

from __future__ import annotations

import asyncio
import importlib
import os
import pkgutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

import migrations as _package

LEASE_ID = "_lease"
LEASE_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Migration:
    id: str
    apply: Callable[[Any], Awaitable[None]]


def _discover() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(_package.__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module = importlib.import_module(f"migrations.{info.name}")
            found.append(Migration(info.name, module.apply))
    return sorted(found, key=lambda m: m.id)


MIGRATIONS = _discover()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def apply_pending(db: Any, *, wait_seconds: float = 60.0) -> list[str]:
    """Apply every migration not yet recorded; returns the ids applied by this call."""
    coll = db["migrations"]
    owner = f"{socket.gethostname()}:{os.getpid()}:{id(db)}"
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while not await _take_lease(coll, owner):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("another process holds the migration lease")
        await asyncio.sleep(0.2)
    applied: list[str] = []
    try:
        done = {d["_id"] for d in await coll.find({"_id": {"$ne": LEASE_ID}}).to_list(None)}
        for migration in MIGRATIONS:
            if migration.id in done:
                continue
            await migration.apply(db)
            await coll.insert_one({"_id": migration.id, "applied_at": _now()})
            applied.append(migration.id)
    finally:
        await coll.delete_one({"_id": LEASE_ID, "owner": owner})
    return applied


async def _take_lease(coll: Any, owner: str) -> bool:
    """Insert the lease document; a stale lease (its holder died) is taken over."""
    now = _now()
    lease = {"_id": LEASE_ID, "owner": owner, "expires_at": now + timedelta(seconds=LEASE_SECONDS)}
    try:
        await coll.insert_one(lease)
        return True
    except DuplicateKeyError:
        pass
    # Only one process can replace a given stale lease: the filter names the expiry it saw.
    stale = await coll.find_one({"_id": LEASE_ID})
    if stale and stale["expires_at"] < now:
        result = await coll.update_one(
            {"_id": LEASE_ID, "owner": stale["owner"], "expires_at": stale["expires_at"]},
            {"$set": {"owner": owner, "expires_at": lease["expires_at"]}},
        )
        return result.modified_count == 1
    return False
