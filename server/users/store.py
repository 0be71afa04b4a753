"""The ``users`` collection. The only code that reads or writes user documents."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from media.records import ROLES, User, check_user_changes
from server.documents import new_id, utcnow
from server.errors import Conflict, NotFound
from server.handles import Database


class UserStore:
    def __init__(self, db: Database) -> None:
        self._users = db["users"]

    async def create(self, *, username: str, email: str, password_hash: str, roles: list[str]) -> User:
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
        user = User.from_doc(doc)  # validated before it reaches the store
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise await self._taken(doc, exclude=None) from exc
        return user

    async def get(self, user_id: str) -> User:
        doc = await self._users.find_one({"_id": user_id})
        if doc is None:
            raise NotFound("No such user.")
        return User.from_doc(doc)

    async def find_by_login(self, login: str) -> User | None:
        """A user by username or email, case-insensitively."""
        field = "email_lower" if "@" in login else "username_lower"
        doc = await self._users.find_one({field: login.lower()})
        return None if doc is None else User.from_doc(doc)

    async def list(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        cursor = self._users.find({}).sort("created_at", 1).skip(offset).limit(limit)
        return [User.from_doc(d) for d in await cursor.to_list(None)], await self._users.count_documents({})

    async def update(self, user_id: str, changes: dict[str, Any]) -> User:
        check_user_changes(changes)  # validated before it reaches the store
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
        return User.from_doc(doc)

    async def delete(self, user_id: str) -> None:
        result = await self._users.delete_one({"_id": user_id})
        if result.deleted_count == 0:
            raise NotFound("No such user.")

    async def count(self) -> int:
        return int(await self._users.count_documents({}))

    async def _taken(self, wanted: dict[str, Any], *, exclude: str | None) -> Conflict:
        """Which unique field collided, asked of the data (drivers word their errors differently)."""
        field = "email"
        if "username_lower" in wanted:
            other = await self._users.find_one({"username_lower": wanted["username_lower"]})
            if other is not None and other["_id"] != exclude:
                field = "username"
        return Conflict(f"That {field} is already taken.", code=f"{field}_taken", details={"field": field})
