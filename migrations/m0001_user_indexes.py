"""Unique usernames and emails (case-insensitively, through the ``*_lower`` fields); logins by user."""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    await db["users"].create_index("username_lower", unique=True, name="username_lower_unique")
    await db["users"].create_index("email_lower", unique=True, name="email_lower_unique")
    await db["logins"].create_index("user_id", name="logins_user")
