"""The ``logins`` collection: one document per sign-in, holding the current refresh token's hash.

A login is what logout, refresh-token reuse and disabling a user revoke; every access token names
its login, so revoking the login ends the tokens too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from media.records import Login
from server.documents import new_id, utcnow
from server.handles import Database

PREVIOUS_KEPT = 20
"""How many rotated refresh hashes a login remembers to recognise reuse."""


class LoginStore:
    def __init__(self, db: Database) -> None:
        self._logins = db["logins"]

    async def create(self, user_id: str, refresh_hash: str, ttl: int, device: str = "") -> str:
        now = utcnow()
        login_id = new_id()
        await self._logins.insert_one(
            {
                "_id": login_id,
                "user_id": user_id,
                "refresh_hash": refresh_hash,
                "previous_hashes": [],
                "device": device[:200],
                "revoked": False,
                "created_at": now,
                "expires_at": now + timedelta(seconds=ttl),
            }
        )
        return login_id

    async def get(self, login_id: str) -> Login | None:
        doc = await self._logins.find_one({"_id": login_id})
        return None if doc is None else Login.from_doc(doc)

    async def rotate(self, login_id: str, old_hash: str, new_hash: str) -> Login | None:
        """Swap the hash only if ``old_hash`` is still current: two racing refreshes can't both win."""
        doc = await self._logins.find_one_and_update(
            {"_id": login_id, "refresh_hash": old_hash, "revoked": False},
            {"$set": {"refresh_hash": new_hash}, "$push": {"previous_hashes": old_hash}},
            return_document=True,
        )
        if doc and len(doc.get("previous_hashes", [])) > PREVIOUS_KEPT:
            await self._logins.update_one(
                {"_id": login_id}, {"$set": {"previous_hashes": doc["previous_hashes"][-PREVIOUS_KEPT:]}}
            )
        return None if doc is None else Login.from_doc(doc)

    async def revoke(self, login_id: str) -> None:
        await self._logins.update_one({"_id": login_id}, {"$set": {"revoked": True}})

    async def forget_user(self, user_id: str) -> None:
        """Every login of a deleted account, revoked or not (their tombstones are in Redis)."""
        await self._logins.delete_many({"user_id": user_id})

    async def revoke_user(self, user_id: str) -> list[str]:
        ids = [
            d["_id"] for d in await self._logins.find({"user_id": user_id, "revoked": False}).to_list(None)
        ]
        if ids:
            await self._logins.update_many({"_id": {"$in": ids}}, {"$set": {"revoked": True}})
        return ids

    @staticmethod
    def is_active(login: Login | None, now: datetime | None = None) -> bool:
        return login is not None and login.active(now or utcnow())
