"""A worker's own scratch folder, and the sweep of folders that dead workers left behind.

With media in a bucket a job fetches the original and builds the ladder in a local folder before
publishing it. A worker killed mid-job never removes that folder, and several workers may share one
scratch root (the in-process worker of ``serve`` and a ``worker`` on the same data folder). So each
worker holds an exclusive ``flock`` on a lock file inside its own folder while it lives: the kernel
drops the lock when the process dies, however it dies, and a folder whose lock can be taken belongs to
nobody. Age would be a poor guide: a long transcode leaves its folder untouched for minutes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path

LOCK_NAME = ".lock"
PREFIX = "worker-"
FRESH_SECONDS = 60.0


class ScratchSpace:
    """``root/worker-<id>/``, held by this process from :meth:`claim` to :meth:`release`. Blocking calls."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / f"{PREFIX}{uuid.uuid4().hex[:12]}"
        self._lock_fd: int | None = None

    def claim(self) -> list[Path]:
        """Make and lock this worker's folder; remove every other folder nobody holds. Returns those."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir()
        fd = os.open(self.folder / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock_fd = fd
        return self.sweep()

    def sweep(self) -> list[Path]:
        """Remove the folders under ``root`` whose owner is gone (their lock is free, or missing)."""
        removed = []
        for entry in self.root.iterdir():
            if entry == self.folder or not entry.is_dir() or entry.is_symlink():
                continue
            if _unheld(entry):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    def release(self) -> None:
        """Remove this worker's folder and drop its lock."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _unheld(folder: Path) -> bool:
    """Whether no live process holds ``folder``. A folder without a lock file is a job folder of an
    older layout, or a worker's that is being made this very moment: gone only once it is a minute old."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > FRESH_SECONDS
        except FileNotFoundError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        # Closing drops a lock we took: the folder is removed right after, by us.
        os.close(fd)
    return True
