"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class PasswordHasher:
    """Hashes and verifies in a small thread pool: argon2 releases the GIL, so the loop keeps serving."""

    def __init__(self, threads: int = 0) -> None:
        self._executor = ThreadPoolExecutor(threads or os.cpu_count() or 2, thread_name_prefix="argon2")
        self._hash = PasswordHash((Argon2Hasher(),))
        # Verified against when the user does not exist, so both failures take the same time.
        self._dummy = self._hash.hash("harmonystream-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._hash.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(
            self._executor, self._hash.verify, password, password_hash or self._dummy
        )
        return bool(ok) and password_hash is not None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
