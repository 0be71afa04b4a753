"""App passwords of the Subsonic API (``server/auth/app_passwords.py``): by user, and by api key."""

from __future__ import annotations

from typing import Any


async def apply(db: Any) -> None:
    await db["app_passwords"].create_index("user_id", name="app_passwords_user")
    await db["app_passwords"].create_index("api_key_hash", unique=True, name="app_passwords_api_key")
