"""The ``users`` collection. The only code that reads or writes user documents."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from server.documents import new_id, utcnow
from server.errors import Conflict, NotFound
from server.handles import Database

ROLES = ("listener", "artist", "admin")


class UserStore:
    def __init__(self, db: Database) -> None:
        self._users = db["users"]

    async def create(
        self, *, username: str, email: str, password_hash: str, roles: list[str]
    ) -> dict[str, Any]:
        now = utcnow()
        doc = {
            "_id": new_id(),
            "username": username,
            "username_lower": username.lower(),
            "email": email,
            "email_lower": email.lower(),
            "password_hash": password_hash,
            "roles": sorted(set(roles), key=ROLES.index),
            "disabled": False,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise await self._taken(doc, exclude=None) from exc
        return doc

    async def get(self, user_id: str) -> dict[str, Any]:
        doc = await self._users.find_one({"_id": user_id})
        if doc is None:
            raise NotFound("No such user.")
        return doc

    async def find_by_login(self, login: str) -> dict[str, Any] | None:
        """A user by username or email, case-insensitively."""
        field = "email_lower" if "@" in login else "username_lower"
        return await self._users.find_one({field: login.lower()})

    async def list(self, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        cursor = self._users.find({}).sort("created_at", 1).skip(offset).limit(limit)
        return await cursor.to_list(None), await self._users.count_documents({})

    async def update(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        changes = dict(changes)
        if "email" in changes:
            changes["email_lower"] = changes["email"].lower()
        if "roles" in changes:
            changes["roles"] = sorted(set(changes["roles"]), key=ROLES.index)
        changes["updated_at"] = utcnow()
        try:
            doc = await self._users.find_one_and_update(
                {"_id": user_id}, {"$set": changes}, return_document=True
            )
        except DuplicateKeyError as exc:
            raise await self._taken(changes, exclude=user_id) from exc
        if doc is None:
            raise NotFound("No such user.")
        return doc

    async def delete(self, user_id: str) -> None:
        result = await self._users.delete_one({"_id": user_id})
        if result.deleted_count == 0:
            raise NotFound("No such user.")

    async def count(self) -> int:
        return await self._users.count_documents({})

    async def _taken(self, wanted: dict[str, Any], *, exclude: str | None) -> Conflict:
        """Which unique field collided, asked of the data (drivers word their errors differently)."""
        field = "email"
        if "username_lower" in wanted:
            other = await self._users.find_one({"username_lower": wanted["username_lower"]})
            if other is not None and other["_id"] != exclude:
                field = "username"
        return Conflict(f"That {field} is already taken.", code=f"{field}_taken", details={"field": field})
