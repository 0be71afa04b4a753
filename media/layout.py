"""Where media lives on disk, and the one safe way to turn a relative path into a file under the root.

```
<root>/originals/<track_id>/original.<ext>
<root>/hls/<track_id>/master.m3u8
<root>/hls/<track_id>/<rung>/index.m3u8 | init.mp4 | seg_00000.m4s …
<root>/covers/<track_id>.jpg
```
Track ids come from us (database ids), never from a user's file name, and are checked against a small
alphabet anyway: a user file name never becomes a path. Every path component the layout produces
matches ``SAFE_COMPONENT_RE``, which is what :meth:`MediaLayout.resolve` accepts, so delivery code can
serve anything the layout wrote and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from media.errors import UnsafePath

TRACK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SAFE_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
"""One path component: no leading dot (so no ``..``, no hidden or temp files), ASCII only."""
_EXT_RE = re.compile(r"^[a-z0-9]{1,8}$")
_MAX_RELATIVE_LEN = 1024

ORIGINALS_DIR = "originals"
HLS_DIR = "hls"
COVERS_DIR = "covers"
MASTER_PLAYLIST = "master.m3u8"
MEDIA_PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"
SEGMENT_TEMPLATE = "seg_%05d.m4s"
"""printf-style, as ffmpeg's ``-hls_segment_filename`` takes it."""


def segment_name(index: int) -> str:
    """File name of media segment number ``index`` (0-based)."""
    return SEGMENT_TEMPLATE % index


def validate_track_id(track_id: str) -> str:
    """``track_id`` unchanged if it matches ``TRACK_ID_RE``, else :class:`UnsafePath`."""
    if not isinstance(track_id, str) or not TRACK_ID_RE.match(track_id):
        raise UnsafePath(f"invalid track id {track_id!r}")
    return track_id


def normalise_extension(ext: str) -> str:
    """A lower-case extension without dot (``".FLAC"`` → ``"flac"``); UnsafePath when it is odd."""
    clean = ext.lower().lstrip(".") if isinstance(ext, str) else ""
    if not _EXT_RE.match(clean):
        raise UnsafePath(f"invalid file extension {ext!r}")
    return clean


def check_relative(relative: str) -> list[str]:
    """The components of ``relative`` if every one is a name the layout makes, else :class:`UnsafePath`.

    The lexical half of :func:`safe_resolve`, and all of it for keys of an object store (no symlinks).
    """
    if not isinstance(relative, str) or not relative or len(relative) > _MAX_RELATIVE_LEN:
        raise UnsafePath("empty or overlong path")
    if relative.startswith("/") or "\\" in relative or "%" in relative:
        raise UnsafePath(f"path not allowed: {relative!r}")
    parts = relative.split("/")
    for part in parts:
        if not SAFE_COMPONENT_RE.match(part):
            raise UnsafePath(f"path component not allowed: {part!r}")
    return parts


def safe_resolve(root: Path, relative: str) -> Path:
    """The absolute path of ``relative`` under ``root``, or :class:`UnsafePath`.

    ``relative`` is an already URL-decoded path such as ``"hls/abc/128k/seg_00001.m4s"``. Rejected:
    empty, absolute, backslashes, NUL/control characters, ``%`` (a second round of encoding such as
    ``%2e%2e`` is a trick, never a real name of ours), any component outside ``SAFE_COMPONENT_RE``
    (which rules out ``.``, ``..`` and hidden files), and anything whose real path (symlinks
    followed) is not inside the real path of ``root``. The file need not exist.
    """
    parts = check_relative(relative)
    real_root = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(real_root.joinpath(*parts)))
    # realpath follows every symlink, so a link inside the root that points outside is caught here.
    if candidate == real_root or not candidate.is_relative_to(real_root):
        raise UnsafePath(f"path escapes the media root: {relative!r}")
    return candidate


@dataclass(frozen=True, slots=True)
class MediaLayout:
    """The storage layout under one media root. Methods only compute paths, except where noted."""

    root: Path

    def ensure_dirs(self) -> None:
        """Create the root and its top-level folders (idempotent)."""
        for name in (ORIGINALS_DIR, HLS_DIR, COVERS_DIR):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def original_dir(self, track_id: str) -> Path:
        return self.root / ORIGINALS_DIR / validate_track_id(track_id)

    def original_path(self, track_id: str, ext: str) -> Path:
        """``originals/<id>/original.<ext>``; ``ext`` is taken from the probed format, not the upload."""
        return self.original_dir(track_id) / f"original.{normalise_extension(ext)}"

    def find_original(self, track_id: str) -> Path | None:
        """The stored original of a track, whatever its extension, or None."""
        folder = self.original_dir(track_id)
        if not folder.is_dir():
            return None
        found = sorted(p for p in folder.glob("original.*") if p.is_file())
        return found[0] if found else None

    def hls_dir(self, track_id: str) -> Path:
        return self.root / HLS_DIR / validate_track_id(track_id)

    def master_playlist(self, track_id: str) -> Path:
        return self.hls_dir(track_id) / MASTER_PLAYLIST

    def rung_dir(self, track_id: str, rung: str) -> Path:
        if not SAFE_COMPONENT_RE.match(rung):
            raise UnsafePath(f"invalid rung name {rung!r}")
        return self.hls_dir(track_id) / rung

    def media_playlist(self, track_id: str, rung: str) -> Path:
        return self.rung_dir(track_id, rung) / MEDIA_PLAYLIST

    def cover_path(self, track_id: str) -> Path:
        return self.root / COVERS_DIR / f"{validate_track_id(track_id)}.jpg"

    def relative(self, path: Path) -> str:
        """``path`` as a POSIX path relative to the root (what URLs and the database store)."""
        return path.relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path:
        """:func:`safe_resolve` under this root: the one entry point for paths that come from a URL."""
        return safe_resolve(self.root, relative)

    def install_cover(self, track_id: str, source: Path) -> Path:
        """Copy a JPEG cover to ``covers/<id>.jpg`` atomically (copy to a temp name, then replace).

        Blocking file I/O: call it through ``asyncio.to_thread`` from async code.
        """
        dest = self.cover_path(track_id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def remove_track(self, track_id: str) -> None:
        """Delete everything stored for a track (original, HLS, cover). Blocking; idempotent."""
        shutil.rmtree(self.original_dir(track_id), ignore_errors=True)
        shutil.rmtree(self.hls_dir(track_id), ignore_errors=True)
        self.cover_path(track_id).unlink(missing_ok=True)
