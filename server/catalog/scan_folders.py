"""The ``scan_folders`` collection: what the last scan saw in each folder, so a rescan can skip the
folders that did not change without reading their tracks back.

A record::

    {_id: the folder's absolute path with a trailing separator, fingerprint, files, scanned_at}

``fingerprint`` digests the names, sizes and modification times of the audio files directly in the
folder and the names of its subfolders; ``files`` counts those files (a rescan's progress bar knows
its total from these before it walks). The trailing separator makes the ``_id`` order the order of
the scanner's walk (a folder, then each subfolder's tree, by name).

What a record promises, and what keeps the promise: *every audio file the fingerprint covers is a
track that is not missing, with that size and mtime, and the folder holds no other track.* The scanner
deletes a folder's record before it changes anything in that folder and saves the new one only once
those changes are written, so a scan killed half-way leaves no record that lies; deleting a scanned
track deletes its folder's record (:meth:`TrackStore.delete`); a folder with a file that could not be
imported gets no record (it is looked at in full each time, and the file retried). A change made to the
database by hand is not seen: ``harmonystream scan`` then needs a folder touched, or the records
dropped (``scan_folders`` can be deleted at any time; the next scan reads every folder back once).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from pymongo.errors import BulkWriteError, DuplicateKeyError

from server.documents import any_of, utcnow
from server.handles import Database

COLLECTION = "scan_folders"
TOP = "\U0010ffff"  # above every path that starts with a given prefix


@dataclass(frozen=True, slots=True)
class FolderRecord:
    path: str
    """Absolute, with a trailing separator."""
    fingerprint: str
    files: int


def folder_of(path: str) -> str:
    """The record key of the folder holding the file at ``path``."""
    return path.rpartition(os.sep)[0] + os.sep


class ScanFolders:
    def __init__(self, db: Database) -> None:
        self._coll = db[COLLECTION]

    async def under(self, prefix: str, batch: int = 5000) -> AsyncIterator[list[FolderRecord]]:
        """Records of ``prefix`` and the folders below it, in path order, ``batch`` at a time."""
        low: dict[str, str] = {"$gte": prefix, "$lt": prefix + TOP}
        while True:
            cursor = self._coll.find({"_id": low}, {"_id": 1, "fingerprint": 1, "files": 1})
            docs = await cursor.sort("_id", 1).limit(batch).to_list(None)
            if docs:
                yield [FolderRecord(d["_id"], d["fingerprint"], d["files"]) for d in docs]
            if len(docs) < batch:
                return
            low = {"$gt": docs[-1]["_id"], "$lt": prefix + TOP}

    async def files_under(self, prefix: str) -> int:
        """How many audio files the records of ``prefix`` and below count."""
        total = 0
        async for records in self.under(prefix):
            total += sum(r.files for r in records)
        return total

    async def save(self, records: Sequence[FolderRecord]) -> None:
        """Replace the records of these folders."""
        if not records:
            return
        await self.forget([r.path for r in records])
        now = utcnow()
        docs = [
            {"_id": r.path, "fingerprint": r.fingerprint, "files": r.files, "scanned_at": now}
            for r in records
        ]
        # A concurrent scan of the same folders may save theirs first: one is as good as the other.
        with contextlib.suppress(BulkWriteError, DuplicateKeyError):
            await self._coll.insert_many(docs, ordered=False)

    async def forget(self, paths: Sequence[str]) -> None:
        """Drop the records of these folders (their next scan reads their tracks back)."""
        for start in range(0, len(paths), 500):
            await self._coll.delete_many(any_of("_id", paths[start : start + 500]))
