"""Free space on the data directory: what uploads check before they start, and what ``/readyz`` and the
metrics report.

Every process keeps temp uploads, the embedded store and (without a bucket) the media under
``HS_DATA_DIR``; a full disk there is a failure of ours, answered 507 ``insufficient_storage`` with
nothing half-written (the error middleware turns ENOSPC/EDQUOT into it wherever it surfaces). Below
``HS_MIN_FREE_MB`` uploads are refused before a byte is received, so the space left goes to what
must not fail (the store, the transcoder's temp files), and operators see it coming in ``/readyz``
(``storage: low: …``) and ``hs_disk_free_bytes``.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from server.errors import InsufficientStorage

MB = 1024 * 1024


def free_bytes(path: Path) -> int:
    """Bytes free to this process on the filesystem holding ``path`` (its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except FileNotFoundError:
            continue
    return 0


def low_space(path: Path, min_free_mb: int) -> str | None:
    """A sentence for ``/readyz`` when the free space is below ``min_free_mb``; None when there is room."""
    free = free_bytes(path)
    if free >= min_free_mb * MB:
        return None
    return f"low: {free // MB} MB free, below HS_MIN_FREE_MB={min_free_mb}"


def check_room(path: Path, incoming: int, min_free_mb: int) -> None:
    """:class:`InsufficientStorage` unless ``incoming`` more bytes leave ``min_free_mb`` free. Blocking."""
    free = free_bytes(path)
    if free - incoming < min_free_mb * MB:
        raise InsufficientStorage(details={"free_mb": free // MB, "min_free_mb": min_free_mb})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says the disk or quota is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(seen, sqlite3.OperationalError) and "disk is full" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
