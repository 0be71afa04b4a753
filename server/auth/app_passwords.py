"""App passwords: per-app secrets for the Subsonic API, which the account password never serves.

Subsonic's token sign-in sends ``t = md5(password + salt)``, so the server must be able to read the
password back; the account password stays a one-way hash, and each user makes app passwords instead.
A document of ``app_passwords``::

    {_id, user_id, name, secret (AES-GCM of the password, key derived from HS_SECRET_KEY),
     api_key_hash (sha256 of the apiKey extension's key), created_at, last_used_at | None}

The password and the api key are shown once, when made. Deleting one revokes it at once (every
Subsonic request reads the store); a disabled or deleted user's app passwords stop with the user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.documents import new_id, utcnow
from server.errors import NotFound
from server.handles import Database

_KEY_LABEL = b"harmonystream app passwords v1"
MAX_PER_USER = 50


USED_PRECISION = timedelta(minutes=1)
"""``last_used_at`` is this exact: apps sign every request, and each note is a write."""
NOTED_MAX = 10_000
"""App passwords whose last note a process remembers."""


@dataclass(frozen=True, slots=True)
class AppPassword:
    id: str
    user_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewAppPassword:
    """What making one answers, once: the record and its two secrets."""

    record: AppPassword
    password: str
    api_key: str


class SecretBox:
    """Encrypts app passwords with AES-GCM under a key derived from ``HS_SECRET_KEY``."""

    def __init__(self, secret_key: str) -> None:
        key = hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def seal(self, plain: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain.encode(), context.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


def key_hash(api_key: str) -> str:
    # 256 random bits: a fast hash is enough for a lookup key.
    return hashlib.sha256(api_key.encode()).hexdigest()


class AppPasswordStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._docs = db["app_passwords"]
        self._box = box
        self._noted: dict[str, float] = {}
        """{app password id: monotonic time this process last wrote its ``last_used_at``}."""

    async def create(self, user_id: str, name: str) -> NewAppPassword:
        password = secrets.token_urlsafe(18)
        api_key = secrets.token_urlsafe(32)
        doc_id = new_id()
        doc = {
            "_id": doc_id,
            "user_id": user_id,
            "name": name,
            # Bound to its record and user: a sealed secret copied to another record does not open.
            "secret": self._box.seal(password, f"{doc_id}:{user_id}"),
            "api_key_hash": key_hash(api_key),
            "created_at": utcnow(),
            "last_used_at": None,
        }
        await self._docs.insert_one(doc)
        return NewAppPassword(_record(doc), password, api_key)

    async def count(self, user_id: str) -> int:
        return await self._docs.count_documents({"user_id": user_id})

    async def list(self, user_id: str) -> list[AppPassword]:
        docs = await self._docs.find({"user_id": user_id}).sort("created_at", 1).to_list(None)
        return [_record(d) for d in docs]

    async def delete(self, user_id: str, app_password_id: str) -> None:
        result = await self._docs.delete_one({"_id": app_password_id, "user_id": user_id})
        if result.deleted_count == 0:
            raise NotFound("No such app password.")

    async def delete_all(self, user_id: str) -> None:
        await self._docs.delete_many({"user_id": user_id})

    async def passwords(self, user_id: str) -> list[tuple[AppPassword, str]]:
        """Every app password of the user with its secret, for checking a Subsonic sign-in."""
        docs = await self._docs.find({"user_id": user_id}).to_list(None)
        return [(_record(d), self._box.open(d["secret"], f"{d['_id']}:{d['user_id']}")) for d in docs]

    async def by_api_key(self, api_key: str) -> AppPassword | None:
        doc = await self._docs.find_one({"api_key_hash": key_hash(api_key)})
        return None if doc is None else _record(doc)

    async def used(self, record: AppPassword) -> None:
        """Note that ``record`` signed a request in: at most once a minute per process, as apps sign
        every request and a write per request would cost more than the request (one commit each in the
        embedded store). Decided from this process's memory: no read of the stored time."""
        now = time.monotonic()
        last = self._noted.get(record.id)
        if last is not None and now - last < USED_PRECISION.total_seconds():
            return
        if len(self._noted) >= NOTED_MAX:
            self._noted.clear()  # forgetting only costs one more write per app password
        self._noted[record.id] = now
        await self._docs.update_one({"_id": record.id}, {"$set": {"last_used_at": utcnow()}})


def _record(doc: dict[str, Any]) -> AppPassword:
    return AppPassword(
        id=doc["_id"],
        user_id=doc["user_id"],
        name=doc["name"],
        created_at=doc["created_at"],
        last_used_at=doc.get("last_used_at"),
    )
