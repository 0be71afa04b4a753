"""Importing a folder of audio files into the catalog, referencing each file where it is.

Idempotent: a file is known by its absolute path (``scan_path``, unique). A second run compares size
and modification time with what the last run saw and touches nothing that did not change; a changed
file has its tags re-read and is transcoded again; a file that vanished is marked ``missing`` (its
renditions stay playable); a file that reappears unchanged is unmarked.

Fast and flat on purpose: the tree is walked with ``os.scandir`` in path order while what previous
scans saw streams from the store in the same order (a range of the ``scan_path`` index at a time), and
the two are merged like sorted lists: no file list and no map of known tracks is ever held whole, so
memory stays the same at a hundred files or a million. Tags and durations come from mutagen (no process
per file; the transcoder's ffprobe has the last word and fails a track that mutagen misjudged), and new
tracks are inserted in batches. Killed half-way, a scan loses nothing: what it inserted is "unchanged"
to the next run, which goes on with the rest.

Safe beside a running ``serve``: every write is a single-document or batch write the other process
also sees; the unique ``scan_path`` index stops two scans adding one file twice; artists and albums
are created with insert-then-reread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media.tags import Tags, read_tags
from server.catalog.ingest import MIME_TYPES, UNKNOWN_ARTIST, UNTITLED
from server.catalog.names import GENRE_MAX, NAME_MAX, TITLE_MAX, clean_name, sort_key, title_from_filename
from server.catalog.service import CatalogService
from server.documents import utcnow

EXTENSIONS = frozenset({"mp3", "flac", "ogg", "opus", "m4a", "wav"})
BATCH = 200
WALK_CHUNK = 1000  # files taken from the walk per trip to its thread

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
    """Audio files under ``root`` by extension, in path order (as the store sorts ``scan_path``).

    Hidden entries skipped; directory links not followed. Children are visited sorted by name, a folder
    as ``name/``: every path below it starts with that, so the walk yields whole paths in the order
    of their code points, which is how SQLite and MongoDB compare strings.
    """
    yield from _visit(str(root))


def _visit(folder: str) -> Iterator[FoundFile]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    keyed: list[tuple[str, os.DirEntry[str], bool]] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                keyed.append((entry.name + os.sep, entry, True))
            elif entry.name.rpartition(".")[2].lower() in EXTENSIONS and entry.is_file():
                keyed.append((entry.name, entry, False))
        except OSError:
            continue
    keyed.sort(key=lambda item: item[0])
    for _, entry, is_folder in keyed:
        if is_folder:
            yield from _visit(entry.path)
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        yield FoundFile(entry.path, st.st_size, st.st_mtime_ns)


def count_files(root: Path) -> int:
    """How many files :func:`walk` will yield, near enough for a progress bar (names only, no stat)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.name.rpartition(".")[2].lower() in EXTENSIONS:
                    total += 1
            except OSError:
                continue
    return total


class TagReader:
    """Reads the tags of a batch of files: in a thread of this process, or split among worker processes.

    mutagen is pure Python, so threads would share one core; a first scan of a big folder spends most
    of its time here. Workers are started (``forkserver``: never a fork of this threaded process) on
    the first pooled read, so a small scan or a rescan pays nothing for them.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or max(1, min(os.cpu_count() or 1, 4))
        self._pool: ProcessPoolExecutor | None = None

    async def read(self, files: list[FoundFile], *, pooled: bool) -> list[tuple[FoundFile, Tags | str]]:
        if not pooled or self._workers < 2 or len(files) < self._workers:
            return await asyncio.to_thread(_read_all, files)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("forkserver")
            )
        loop = asyncio.get_running_loop()
        size = -(-len(files) // self._workers)
        parts = [files[i : i + size] for i in range(0, len(files), size)]
        done = await asyncio.gather(*(loop.run_in_executor(self._pool, _read_all, part) for part in parts))
        return [pair for part in done for pair in part]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _Run:
    """One scan's verdicts, file by file (plain calls: no awaiting per file), and the work they leave,
    done a batch at a time by :meth:`settle` so that memory stays bounded."""

    def __init__(
        self, scanner: LibraryScanner, summary: ScanSummary, on_progress: Progress | None, expected: int
    ):
        self._scanner = scanner
        self._summary = summary
        self._on_progress = on_progress
        self._expected = expected
        self._done = 0
        self._new: list[FoundFile] = []
        self._changed: list[tuple[FoundFile, str]] = []
        self._vanished: list[str] = []
        self._restored: list[str] = []
        self._reading: asyncio.Future[list[tuple[FoundFile, Tags | str]]] | None = None
        self._batches = 0

    def new(self, f: FoundFile) -> None:
        self._new.append(f)

    def seen(self, f: FoundFile, doc: dict[str, Any]) -> None:
        original = doc.get("original") or {}
        if original.get("size") != f.size or original.get("mtime_ns") != f.mtime_ns:
            self._changed.append((f, doc["_id"]))
            return
        self._summary.unchanged += 1
        self._done += 1
        if doc.get("missing"):
            self._restored.append(doc["_id"])

    def gone(self, doc: dict[str, Any]) -> None:
        """A track whose file the walk did not meet."""
        if not doc.get("missing"):
            self._vanished.append(doc["_id"])

    async def settle(self, *, final: bool = False) -> None:
        """Do what has piled up: new files a full batch at a time (all of them when ``final``)."""
        while len(self._new) >= BATCH or (final and self._new):
            batch, self._new = self._new[:BATCH], self._new[BATCH:]
            # Tags of this batch are read while the one before is written: reading is most of a first
            # scan, and from the second batch on it runs in worker processes, one per core.
            reading = asyncio.ensure_future(self._scanner._tags.read(batch, pooled=self._batches > 0))
            self._batches += 1
            previous, self._reading = self._reading, reading
            await self._insert(previous)
        if final:
            last, self._reading = self._reading, None
            await self._insert(last)
        changed, self._changed = self._changed, []
        for f, track_id in changed:
            await self._scanner._update(f, track_id, self._summary)
            self._done += 1
        if final or len(self._vanished) + len(self._restored) >= BATCH:
            vanished, restored = self._vanished, self._restored
            self._vanished, self._restored = [], []
            for ids, missing in ((vanished, True), (restored, False)):
                if ids:
                    await self._scanner._mark(ids, missing)
            self._summary.missing += len(vanished)
            self._summary.restored += len(restored)
        self._report()

    async def _insert(self, reading: asyncio.Future[list[tuple[FoundFile, Tags | str]]] | None) -> None:
        if reading is None:
            return
        read = await reading
        await self._scanner._add(read, self._summary)
        self._done += len(read)
        self._report()

    async def abandon(self) -> None:
        """Wait for a read still running (a scan that failed half-way), so that nothing outlives it."""
        if self._reading is not None:
            with contextlib.suppress(Exception):
                await self._reading

    def _report(self) -> None:
        if self._on_progress:
            self._on_progress(self._done, max(self._expected, self._summary.found))


class LibraryScanner:
    def __init__(self, catalog: CatalogService, enqueue: Enqueue | None) -> None:
        self._catalog = catalog
        self._enqueue = enqueue
        self._artists: dict[str, str] = {}
        self._albums: dict[tuple[str, str], str] = {}
        # Ids met during this scan, by name_key and by (artist id, title_key).
        self._tags = TagReader()

    async def scan(self, root: Path, on_progress: Progress | None = None) -> ScanSummary:
        started = time.perf_counter()
        root = await asyncio.to_thread(lambda: Path(os.path.realpath(root)))
        if not await asyncio.to_thread(root.is_dir):
            raise NotADirectoryError(f"{root} is not a folder")
        summary = ScanSummary()
        expected = await asyncio.to_thread(count_files, root)
        prefix = str(root).rstrip(os.sep) + os.sep
        run = _Run(self, summary, on_progress, expected)
        try:
            await self._merge(root, prefix, run, summary)
        except BaseException:
            await run.abandon()
            raise
        finally:
            await asyncio.to_thread(self._tags.close)
        summary.elapsed_s = time.perf_counter() - started
        return summary

    async def _merge(self, root: Path, prefix: str, run: _Run, summary: ScanSummary) -> None:
        """Walk ``root`` and stream what earlier scans saw under it, both in path order, side by side."""
        files = walk(root)
        known = self._catalog.tracks.scanned_under(prefix, before=utcnow())
        # Known tracks read so far and not yet merged: at most one walk chunk's range and one batch.
        buffer: deque[dict[str, Any]] = deque()

        async def read_known(upto: str | None) -> bool:
            """Buffer known tracks up to the path ``upto`` (one more batch when None); False at the end."""
            while upto is None or not buffer or buffer[-1]["scan_path"] < upto:
                more = await anext(known, None)
                if more is None:
                    return False
                buffer.extend(more)
                if upto is None:
                    return True
            return True

        def take() -> asyncio.Future[list[FoundFile]]:
            return asyncio.ensure_future(asyncio.to_thread(lambda: list(itertools.islice(files, WALK_CHUNK))))

        # The walk runs a chunk ahead in its thread, the store a batch ahead in its own, while this
        # loop merges the two sorted streams.
        pending = take()
        while chunk := await pending:
            pending = take()
            await read_known(chunk[-1].path)
            for f in chunk:
                while buffer and buffer[0]["scan_path"] < f.path:
                    run.gone(buffer.popleft())
                if buffer and buffer[0]["scan_path"] == f.path:
                    run.seen(f, buffer.popleft())
                else:
                    run.new(f)
            summary.found += len(chunk)
            await run.settle()
        while buffer or await read_known(None):
            while buffer:
                run.gone(buffer.popleft())
            await run.settle()
        await run.settle(final=True)

    async def _add(self, read: list[tuple[FoundFile, Tags | str]], summary: ScanSummary) -> None:
        """Insert new files as tracks, in one batch, given their tags (or why they cannot be read)."""
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

    async def _update(self, f: FoundFile, track_id: str, summary: ScanSummary) -> None:
        """A file that changed since the last scan: tags read again, transcoded again."""
        ((_, tags),) = await asyncio.to_thread(_read_all, [f])
        if isinstance(tags, str):
            summary.skipped.append((f.path, tags))
            return
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

    async def _mark(self, ids: list[str], missing: bool) -> None:
        await self._catalog.tracks.set_many(ids, {"missing": missing})
        await self._catalog.cache.invalidate("track", *ids)
        for track_id in ids:
            await self._catalog.library("track", track_id, "updated")

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
