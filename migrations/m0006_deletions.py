"""Tombstones of deleted catalog documents (``server/catalog/deletions.py``), read by ``deleted_at``."""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    await db["deletions"].create_index("deleted_at", name="deletions_deleted_at")
