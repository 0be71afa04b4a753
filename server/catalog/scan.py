"""Importing a folder of audio files into the catalog, referencing each file where it is.

Idempotent: a file is known by its absolute path (``scan_path``, unique). A second run compares size
and modification time with what the last run saw and touches nothing that did not change; a changed
file has its tags re-read and is transcoded again; a file that vanished is marked ``missing`` (its
renditions stay playable); a file that reappears unchanged is unmarked.

Fast on purpose: one query loads what previous scans saw, the tree is walked with ``os.scandir``, tags
and durations come from mutagen (no process per file; the transcoder's ffprobe has the last word and
fails a track that mutagen misjudged), and new tracks are inserted in batches.

Safe beside a running ``serve``: every write is a single-document or batch write the other process
also sees; the unique ``scan_path`` index stops two scans adding one file twice; artists and albums
are created with insert-then-reread.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media.tags import Tags, read_tags
from server.catalog.ingest import MIME_TYPES, UNKNOWN_ARTIST, UNTITLED
from server.catalog.names import GENRE_MAX, NAME_MAX, TITLE_MAX, clean_name, sort_key, title_from_filename
from server.catalog.service import CatalogService

EXTENSIONS = frozenset({"mp3", "flac", "ogg", "opus", "m4a", "wav"})
BATCH = 200

Enqueue = Callable[[str], Awaitable[Any]]
Progress = Callable[[int, int], None]
"""Called with (files done, files found) as the scan advances."""


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class ScanSummary:
    found: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0
    restored: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of files that could not be imported."""
    queued: int = 0
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        rate = self.found / self.elapsed_s if self.elapsed_s > 0 else 0.0
        out = [
            f"{self.found} audio files in {self.elapsed_s:.2f} s ({rate:,.0f} files/s): "
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.missing} marked missing, {self.restored} back again, {len(self.skipped)} skipped; "
            f"{self.queued} transcodes queued"
        ]
        out += [f"  skipped {_printable(path)}: {reason}" for path, reason in self.skipped[:20]]
        if len(self.skipped) > 20:
            out.append(f"  … and {len(self.skipped) - 20} more")
        return out


def _printable(path: str) -> str:
    """A path that may hold undecodable bytes (surrogate escapes), safe to print."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def walk(root: Path) -> Iterator[FoundFile]:
    """Audio files under ``root`` by extension; hidden entries skipped; directory links not followed."""
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.name.rpartition(".")[2].lower() in EXTENSIONS and entry.is_file():
                    st = entry.stat()
                    yield FoundFile(entry.path, st.st_size, st.st_mtime_ns)
            except OSError:
                continue


class LibraryScanner:
    def __init__(self, catalog: CatalogService, enqueue: Enqueue | None) -> None:
        self._catalog = catalog
        self._enqueue = enqueue
        self._artists: dict[str, str] = {}
        self._albums: dict[tuple[str, str], str] = {}
        # Ids met during this scan, by name_key and by (artist id, title_key).

    async def scan(self, root: Path, on_progress: Progress | None = None) -> ScanSummary:
        started = time.perf_counter()
        root = await asyncio.to_thread(lambda: Path(os.path.realpath(root)))
        if not await asyncio.to_thread(root.is_dir):
            raise NotADirectoryError(f"{root} is not a folder")
        summary = ScanSummary()
        files = await asyncio.to_thread(lambda: list(walk(root)))
        summary.found = len(files)
        known = {d["scan_path"]: d for d in await self._catalog.tracks.scanned()}
        prefix = str(root).rstrip(os.sep) + os.sep
        new: list[FoundFile] = []
        changed: list[tuple[FoundFile, str]] = []
        restored: list[str] = []
        for f in files:
            doc = known.get(f.path)
            if doc is None:
                new.append(f)
                continue
            original = doc.get("original") or {}
            if original.get("size") != f.size or original.get("mtime_ns") != f.mtime_ns:
                changed.append((f, doc["_id"]))
            else:
                summary.unchanged += 1
                if doc.get("missing"):
                    restored.append(doc["_id"])
        seen = {f.path for f in files}
        vanished = [
            d["_id"]
            for p, d in known.items()
            if p.startswith(prefix) and p not in seen and not d.get("missing")
        ]
        done = summary.unchanged
        if on_progress:
            on_progress(done, summary.found)

        for start in range(0, len(new), BATCH):
            batch = new[start : start + BATCH]
            read = await asyncio.to_thread(_read_all, batch)
            usable = [(f, tags) for f, tags in read if not isinstance(tags, str)]
            summary.skipped += [(f.path, tags) for f, tags in read if isinstance(tags, str)]
            await self._resolve([tags for _, tags in usable])
            docs = [
                self._catalog.tracks.new_document(
                    {
                        **self._fields(f, tags),
                        "owner_id": None,
                        "status": "processing",
                        "scan_path": f.path,
                        "missing": False,
                        "original": _original(f),
                    }
                )
                for f, tags in usable
            ]
            inserted = await self._catalog.tracks.insert_many(docs)
            summary.added += len(inserted)
            kept = set(inserted)
            pairs = zip(docs, usable, strict=True)
            await self._keep_lyrics([(doc["_id"], tags) for doc, (_, tags) in pairs if doc["_id"] in kept])
            for track_id in inserted:
                await self._catalog.library("track", track_id, "created")
            await self._queue(inserted, summary)
            done += len(batch)
            if on_progress:
                on_progress(done, summary.found)

        for f, track_id in changed:
            ((_, tags),) = await asyncio.to_thread(_read_all, [f])
            if isinstance(tags, str):
                summary.skipped.append((f.path, tags))
            else:
                await self._resolve([tags])
                await self._catalog.tracks.update(
                    track_id,
                    {
                        **self._fields(f, tags),
                        "status": "processing",
                        "progress": 0,
                        "error": None,
                        "missing": False,
                        "original": _original(f),
                    },
                )
                await self._catalog.cache.invalidate("track", track_id)
                await self._keep_lyrics([(track_id, tags)], changed=True)
                await self._catalog.library("track", track_id, "updated")
                summary.updated += 1
                await self._queue([track_id], summary)
            done += 1
            if on_progress:
                on_progress(done, summary.found)

        for ids, missing in ((vanished, True), (restored, False)):
            await self._catalog.tracks.set_many(ids, {"missing": missing})
            await self._catalog.cache.invalidate("track", *ids)
            for track_id in ids:
                await self._catalog.library("track", track_id, "updated")
        summary.missing, summary.restored = len(vanished), len(restored)
        summary.elapsed_s = time.perf_counter() - started
        return summary

    async def _keep_lyrics(self, tracks: list[tuple[str, Tags]], *, changed: bool = False) -> None:
        """Lyrics from the files' tags or ``.lrc`` sidecars; a changed file replaces what it gave."""
        store = self._catalog.lyrics
        if store is None:
            return
        for track_id, tags in tracks:
            if tags.lyrics is not None or changed:
                await store.put_from_file(track_id, tags.lyrics)

    async def _resolve(self, all_tags: list[Tags]) -> None:
        """Find or create, in bulk, the artists and albums these tags name that this scan has not met."""
        names = {_artist_name(t) for t in all_tags}
        unknown = [n for n in names if sort_key(n) not in self._artists]
        if unknown:
            found = await self._catalog.resolve_artists(unknown, None)
            self._artists.update((key, doc["_id"]) for key, doc in found.items())
        wanted: dict[tuple[str, str], tuple[str, str, int | None]] = {}
        for t in all_tags:
            if title := clean_name(t.album, TITLE_MAX):
                artist_id = self._artists[sort_key(_artist_name(t))]
                if (artist_id, sort_key(title)) not in self._albums:
                    wanted[(artist_id, sort_key(title))] = (title, artist_id, t.year)
        if wanted:
            found_albums = await self._catalog.resolve_albums(list(wanted.values()), None)
            self._albums.update((key, doc["_id"]) for key, doc in found_albums.items())

    def _fields(self, f: FoundFile, tags: Tags) -> dict[str, Any]:
        artist_id = self._artists[sort_key(_artist_name(tags))]
        album_title = clean_name(tags.album, TITLE_MAX)
        return {
            "title": clean_name(tags.title, TITLE_MAX) or title_from_filename(f.path) or UNTITLED,
            "artist_id": artist_id,
            "album_id": self._albums.get((artist_id, sort_key(album_title))) if album_title else None,
            "genre": clean_name(tags.genre, GENRE_MAX),
            "release_year": tags.year,
            "track_no": tags.track_no,
            "duration_ms": tags.duration_ms,
        }

    async def _queue(self, ids: list[str], summary: ScanSummary) -> None:
        if self._enqueue is None:
            return
        for track_id in ids:
            await self._enqueue(track_id)
            summary.queued += 1


def _artist_name(tags: Tags) -> str:
    return clean_name(tags.artist, NAME_MAX) or clean_name(tags.album_artist, NAME_MAX) or UNKNOWN_ARTIST


def _original(f: FoundFile) -> dict[str, Any]:
    ext = f.path.rpartition(".")[2].lower()
    return {
        "path": f.path,
        "format": ext,
        "mime": MIME_TYPES.get(ext, "application/octet-stream"),
        "size": f.size,
        "mtime_ns": f.mtime_ns,
        "sha256": None,
        "source": "scan",
    }


def _read_all(files: list[FoundFile]) -> list[tuple[FoundFile, Tags | str]]:
    """Tags of each file, or the reason it cannot be imported. Blocking: run in a thread."""
    out: list[tuple[FoundFile, Tags | str]] = []
    for f in files:
        try:
            f.path.encode("utf-8")
        except UnicodeEncodeError:
            out.append((f, "the file name is not valid UTF-8"))
            continue
        if f.size == 0:
            out.append((f, "the file is empty"))
            continue
        try:
            tags = read_tags(Path(f.path), sidecar_lyrics=True)
        except OSError as exc:
            out.append((f, f"cannot be read ({exc.strerror or exc})"))
            continue
        if tags.duration_ms is None:
            out.append((f, "not a readable audio file"))
            continue
        out.append((f, tags))
    return out
