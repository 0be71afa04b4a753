"""One-time import of a data dir written by the previous embedded engine (tinymongo, ``<db>.sqlite``).

Run when a database is first opened and only its old file exists: every collection, document and
declared index is copied into a new file beside it, which is renamed into place only once complete, so
a killed import starts over and the old file is never touched. The import runs under an exclusive
``flock`` of ``<name>.import.lock``: ``serve --workers N`` starts its children at once, and each opens the
database; one imports, the others wait for it and then open the finished file.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def import_legacy(folder: Path, name: str, target: Path) -> bool:
    """Copy ``folder/<name>.sqlite`` into ``target`` if that exists and ``target`` does not; True if done."""
    source = folder / f"{name}.sqlite"
    if target.exists() or not source.exists():
        return False
    fd = os.open(folder / f"{name}.import.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if target.exists():
            return False  # another process imported it while we waited
        return _import(folder, name, source, target)
    finally:
        os.close(fd)


def _import(folder: Path, name: str, source: Path, target: Path) -> bool:
    from tinymongo import TinyMongoClient

    from server.docstore.engine import DocumentFile

    partial = target.with_name(target.name + ".importing")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    old = TinyMongoClient(str(folder), "sqlite")
    new = DocumentFile(partial, name)
    try:
        database = old[name]
        for collection in database.list_collection_names():
            docs = list(database[collection].find({}))
            if docs:
                new.insert_many(collection, docs, ordered=True)
            for index_name, info in database[collection].index_information().items():
                if index_name != "_id_":
                    new.create_index(
                        collection,
                        [(k, int(d)) for k, d in info["key"]],
                        index_name,
                        bool(info.get("unique")),
                        info.get("partialFilterExpression"),
                    )
            log.info("imported collection %s: %d documents", collection, len(docs))
    finally:
        old.close()
        new.close()  # a clean close checkpoints the WAL into the file
    os.replace(partial, target)
    return True
