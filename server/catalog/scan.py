"""Importing a folder of audio files into the catalog, referencing each file where it is.

Idempotent: a file is known by its absolute path (``scan_path``, unique). A second run compares size
and modification time with what the last run saw and touches nothing that did not change; a changed
file has its tags re-read and is transcoded again; a file that vanished is marked ``missing`` (its
renditions stay playable); a file that reappears unchanged is unmarked.

Fast and flat on purpose. The tree is walked a folder at a time with ``os.scandir``, in the order of
the paths (a folder, then each subfolder's tree, by name). Each folder is summed up in a fingerprint
(names, sizes and mtimes of its audio files, names of its subfolders) and compared with the one the
last scan saved (:mod:`server.catalog.scan_folders`, streamed in the same order): a folder that did not
change costs its ``stat`` calls and nothing else, so a rescan of an unchanged library never reads its
tracks back. Only a folder that changed has its tracks read (a range of the ``scan_path`` index), and
the two sorted lists are merged, file by file. No file list and no map of known tracks is ever held
whole, so memory stays the same at a hundred files or a million.

Tags and durations come from mutagen (no process per file; the transcoder's ffprobe has the last
word and fails a track that mutagen misjudged), read in worker processes, which also clean the names;
new tracks are inserted in batches. Killed half-way, a scan loses nothing: what it inserted is
"unchanged" to the next run, which goes on with the rest; a folder's fingerprint is saved only once
everything the scan did in it is written.

Safe beside a running ``serve``: every write is a single-document or batch write the other process
also sees; the unique ``scan_path`` index stops two scans adding one file twice; artists and albums
are created with insert-then-reread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import stat
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from media.lyrics import Lyrics
from media.tags import read_tags
from server.catalog.formats import MIME_TYPES
from server.catalog.names import (
    GENRE_MAX,
    NAME_MAX,
    TITLE_MAX,
    UNKNOWN_ARTIST,
    UNTITLED,
    clean_name,
    sort_key,
    title_from_filename,
)
from server.catalog.scan_folders import TOP, FolderRecord, folder_of
from server.catalog.service import CatalogService
from server.catalog.store import ScannedTrack
from server.documents import utcnow

EXTENSIONS = frozenset({"mp3", "flac", "ogg", "opus", "m4a", "wav"})
BATCH = 200
POOLED_MIN = 50  # files worth starting the tag workers for
WALK_CHUNK = 1000  # files taken from the walk per trip to its thread

Enqueue = Callable[[str], Awaitable[Any]]
Progress = Callable[[int, int], None]
"""Called with (files done, files found) as the scan advances."""


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Folder:
    """One folder as the walk found it."""

    path: str
    """Absolute, with a trailing separator (the key of its :class:`FolderRecord`)."""
    entries: list[tuple[str, int, int]]
    """(name, size, mtime_ns) of the audio files directly in it, by name."""
    subfolders: list[str]
    """Names of the folders directly in it, each with a trailing separator, sorted."""
    fingerprint: str
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(name, reason) of audio files not taken: links that lead outside the scanned folder."""

    def files(self) -> list[FoundFile]:
        return [FoundFile(self.path + name, size, mtime) for name, size, mtime in self.entries]

    def gaps(self) -> list[tuple[str, str]]:
        """Ranges of paths below this folder that are in none of its subfolders' trees: where its own
        files are, and the trees of subfolders that are gone."""
        out, low = [], self.path
        for sub in filter(_storable, self.subfolders):  # no track lies below a name the store cannot hold
            out.append((low, self.path + sub))
            low = self.path + sub + TOP
        out.append((low, self.path + TOP))
        return out


@dataclass(frozen=True, slots=True)
class FileTags:
    """A file's tags as the catalog takes them, cleaned in the tag worker (off the scan's process)."""

    title: str
    artist: str
    artist_key: str
    album: str | None
    album_key: str
    genre: str | None
    year: int | None
    track_no: int | None
    duration_ms: int
    lyrics: Lyrics | None
    loudness: dict[str, float | None] | None = None
    """From the file's ReplayGain tags (``media.tags.ReplayGain``), when it has them."""


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


def walk_folders(root: Path) -> Iterator[Folder]:
    """Every folder under ``root`` (itself first) with its audio files, in the order of their paths.

    Hidden entries skipped; directory links not followed; file links followed only when they lead to a
    file inside ``root`` (a link to ``/etc/…`` or to another user's files must not become a playable
    track: those are listed in :attr:`Folder.refused`). A folder comes before its subfolders, which
    come by name: with the trailing separator in every path, that is the order of the paths' code
    points, which is how SQLite and MongoDB compare strings (the order of the saved records).
    ``root`` must be a real path (no link in it), as :meth:`LibraryScanner.scan` makes it.
    """
    top = str(root).rstrip(os.sep) + os.sep
    yield from _visit(top, top)


def _visit(path: str, root: str) -> Iterator[Folder]:
    entries: list[tuple[str, int, int]] = []
    subfolders: list[str] = []
    refused: list[tuple[str, str]] = []
    try:
        with os.scandir(path) as listing:
            for entry in listing:
                name = entry.name
                if name[0] == ".":
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subfolders.append(name + os.sep)
                        continue
                    if name[name.rfind(".") + 1 :].lower() not in EXTENSIONS:
                        continue
                    if entry.is_symlink() and not os.path.realpath(entry.path).startswith(root):
                        refused.append((name, "a link to a file outside the scanned folder"))
                        continue
                    st = entry.stat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    entries.append((name, st.st_size, st.st_mtime_ns))
    except OSError:
        pass  # an unreadable folder counts as empty: what was in it is marked missing
    entries.sort()
    subfolders.sort()
    # repr() writes every name unambiguously (quoted, odd characters and surrogates escaped) in one C call.
    fingerprint = hashlib.blake2b(repr((entries, subfolders)).encode(), digest_size=16).hexdigest()
    yield Folder(path, entries, subfolders, fingerprint, refused)
    for sub in subfolders:
        yield from _visit(path + sub, root)


def count_files(root: Path) -> int:
    """How many files the walk will find, near enough for a progress bar (names only, no stat)."""
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

    async def read(self, files: list[FoundFile], *, pooled: bool) -> list[tuple[FoundFile, FileTags | str]]:
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
    done a batch at a time by :meth:`settle` so that memory stays bounded. Folders whose work is all
    written have their fingerprints saved."""

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
        self._reading: asyncio.Future[list[tuple[FoundFile, FileTags | str]]] | None = None
        self._batches = 0
        # Folders looked at in full, oldest first, each with how many new files had been queued when
        # its own were: it is finished once that many are inserted.
        self._open: deque[tuple[FolderRecord, int]] = deque()
        self._queued_new = 0
        self._inserted_new = 0
        self._finished: list[FolderRecord] = []
        self._failed: set[str] = set()  # folders with a file that could not be imported
        self._stale: list[str] = []  # records of folders the walk did not meet

    def unchanged(self, folder: Folder) -> None:
        self._summary.unchanged += len(folder.entries)
        self._done += len(folder.entries)

    def new(self, f: FoundFile) -> None:
        self._new.append(f)
        self._queued_new += 1

    def seen(self, f: FoundFile, known: ScannedTrack) -> None:
        if known.size != f.size or known.mtime_ns != f.mtime_ns:
            self._changed.append((f, known.id))
            return
        self._summary.unchanged += 1
        self._done += 1
        if known.missing:
            self._restored.append(known.id)

    def gone(self, known: ScannedTrack) -> None:
        """A track whose file the walk did not meet."""
        if not known.missing:
            self._vanished.append(known.id)

    def looked_at(self, folder: Folder) -> None:
        """Every file of ``folder`` has had its verdict: save its fingerprint once their work is done."""
        if _storable(folder.path):
            record = FolderRecord(folder.path, folder.fingerprint, len(folder.entries))
            self._open.append((record, self._queued_new))

    def stale(self, paths: list[str]) -> None:
        self._stale += paths

    def skipped(self, f: FoundFile, reason: str) -> None:
        """A file that could not be imported: reported, and its folder gets no fingerprint, so that
        the next scan looks at the folder in full and tries the file again."""
        self._summary.skipped.append((f.path, reason))
        self._failed.add(folder_of(f.path))

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
        for start in range(0, len(changed), BATCH):
            part = changed[start : start + BATCH]
            # A retagged album (or library) is read like new files: a batch at a time, in the
            # workers when there are enough to pay for starting them.
            read = await self._scanner._tags.read([f for f, _ in part], pooled=len(part) >= POOLED_MIN)
            await self._scanner._resolve([tags for _, tags in read if not isinstance(tags, str)])
            for (f, tags), (_, track_id) in zip(read, part, strict=True):
                await self._scanner._update(f, track_id, tags, self._summary, self)
                self._done += 1
        while self._open and self._open[0][1] <= self._inserted_new:
            self._finished.append(self._open.popleft()[0])
        if final or len(self._vanished) + len(self._restored) >= BATCH or len(self._finished) >= BATCH:
            await self._mark()
            # Only now, with every change in these folders written, may their fingerprints say so.
            finished, self._finished = self._finished, []
            await self._scanner._folders.save([r for r in finished if r.path not in self._failed])
        if final or len(self._stale) >= BATCH:
            stale, self._stale = self._stale, []
            await self._scanner._folders.forget(stale)
        self._report()

    async def _mark(self) -> None:
        vanished, restored = self._vanished, self._restored
        self._vanished, self._restored = [], []
        for ids, missing in ((vanished, True), (restored, False)):
            if ids:
                await self._scanner._mark(ids, missing)
        self._summary.missing += len(vanished)
        self._summary.restored += len(restored)

    async def _insert(self, reading: asyncio.Future[list[tuple[FoundFile, FileTags | str]]] | None) -> None:
        if reading is None:
            return
        read = await reading
        await self._scanner._add(read, self._summary, self)
        self._done += len(read)
        self._inserted_new += len(read)
        self._report()

    async def abandon(self) -> None:
        """Wait for a read still running (a scan that failed half-way), so that nothing outlives it."""
        if self._reading is not None:
            with contextlib.suppress(Exception):
                await self._reading

    def _report(self) -> None:
        if self._on_progress:
            self._on_progress(self._done, max(self._expected, self._summary.found))


class _Records:
    """The saved folder records, streamed in path order and met one walked folder at a time."""

    def __init__(self, batches: AsyncIterator[list[FolderRecord]]) -> None:
        self._batches = batches
        self._buffer: deque[FolderRecord] = deque()
        self._ended = False

    async def upto(self, path: str | None) -> tuple[list[str], FolderRecord | None]:
        """(paths of records before ``path``, which the walk passed by; the record of ``path``).
        With None, every record left."""
        passed: list[str] = []
        while True:
            while self._buffer and (path is None or self._buffer[0].path < path):
                passed.append(self._buffer.popleft().path)
            if self._buffer or self._ended:
                break
            more = await anext(self._batches, None)
            if more is None:
                self._ended = True
            else:
                self._buffer.extend(more)
        if path is not None and self._buffer and self._buffer[0].path == path:
            return passed, self._buffer.popleft()
        return passed, None


class LibraryScanner:
    def __init__(self, catalog: CatalogService, enqueue: Enqueue | None, *, on_play: bool = False) -> None:
        """``on_play``: new and changed files are playable at once, their ladders made when played
        (``HS_SCAN_LADDERS=on-play``); otherwise they are queued for transcoding like uploads."""
        self._catalog = catalog
        self._folders = catalog.tracks.scan_folders
        self._enqueue = enqueue
        self._on_play = on_play
        # Ids met during this scan, by name_key and by (artist id, title_key).
        self._artists: dict[str, str] = {}
        self._albums: dict[tuple[str, str], str] = {}
        self._tags = TagReader()

    async def scan(self, root: Path, on_progress: Progress | None = None) -> ScanSummary:
        started = time.perf_counter()
        root = await asyncio.to_thread(lambda: Path(os.path.realpath(root)))
        if not await asyncio.to_thread(root.is_dir):
            raise NotADirectoryError(f"{root} is not a folder")
        summary = ScanSummary()
        prefix = str(root).rstrip(os.sep) + os.sep
        # The last scan's records say how many files to expect; a first scan counts them.
        expected = await self._folders.files_under(prefix) or await asyncio.to_thread(count_files, root)
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
        """Walk ``root`` beside the folder records of the last scan, both in path order."""
        folders = walk_folders(root)
        records = _Records(self._folders.under(prefix))
        before = utcnow()
        # A tree no scan has seen has no tracks to read back: say so once, not once per folder.
        known = await self._catalog.tracks.any_scanned(prefix, prefix + TOP)

        def take() -> asyncio.Future[list[Folder]]:
            def chunk() -> list[Folder]:
                out, files = [], 0
                for folder in folders:
                    out.append(folder)
                    files += len(folder.entries)
                    if files >= WALK_CHUNK:
                        break
                return out

            return asyncio.ensure_future(asyncio.to_thread(chunk))

        # The walk runs a chunk ahead in its thread while this loop compares.
        pending = take()
        while chunk := await pending:
            pending = take()
            for folder in chunk:
                passed, record = await records.upto(folder.path)
                run.stale(passed)
                summary.found += len(folder.entries)
                # Reported on every scan (they are never imported, so no fingerprint vouches for them).
                summary.skipped += [(folder.path + name, reason) for name, reason in folder.refused]
                if record is not None and record.fingerprint == folder.fingerprint:
                    run.unchanged(folder)
                    continue
                if record is not None:
                    # Gone before anything here changes: a scan killed half-way must not leave a
                    # record that vouches for a state the folder is no longer in.
                    await self._folders.forget([record.path])
                await self._compare(folder, run, before if known else None)
                run.looked_at(folder)
            await run.settle()
        passed, _ = await records.upto(None)
        run.stale(passed)
        await run.settle(final=True)

    async def _compare(self, folder: Folder, run: _Run, before: datetime | None) -> None:
        """A folder that changed (or was never seen): its files and its known tracks (those created
        ``before`` the scan; None when there are none at all), merged by path."""
        files = folder.files()
        if before is None or not _storable(folder.path):
            for f in files:
                run.new(f)
            return
        at = 0
        async for batch in self._catalog.tracks.scanned_in(folder.gaps(), before):
            for known in batch:
                path = known.path
                while at < len(files) and files[at].path < path:
                    run.new(files[at])
                    at += 1
                if at < len(files) and files[at].path == path:
                    run.seen(files[at], known)
                    at += 1
                else:
                    run.gone(known)
        for f in files[at:]:
            run.new(f)

    async def _add(
        self, read: list[tuple[FoundFile, FileTags | str]], summary: ScanSummary, run: _Run
    ) -> None:
        """Insert new files as tracks, in one batch, given their tags (or why they cannot be read)."""
        usable: list[tuple[FoundFile, FileTags]] = []
        for f, tags in read:
            if isinstance(tags, str):
                run.skipped(f, tags)
            else:
                usable.append((f, tags))
        await self._resolve([tags for _, tags in usable])
        docs = [
            self._catalog.tracks.new_document(
                {
                    **self._fields(tags),
                    **self._readiness(),
                    "owner_id": None,
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

    async def _update(
        self, f: FoundFile, track_id: str, tags: FileTags | str, summary: ScanSummary, run: _Run
    ) -> None:
        """A file that changed since the last scan, with its tags read again (their artist and album
        resolved): its track updated, transcoded again."""
        if isinstance(tags, str):
            run.skipped(f, tags)
            return
        await self._catalog.tracks.update(
            track_id,
            {
                **self._fields(tags),
                **self._readiness(),
                "error": None,
                "missing": False,
                "original": _original(f),
            },
        )
        await self._catalog.cache.invalidate("track", track_id)
        if self._on_play:
            await self._catalog.remove_ladder(track_id)  # made from the file as it was
        await self._keep_lyrics([(track_id, tags)], changed=True)
        await self._catalog.library("track", track_id, "updated")
        summary.updated += 1
        await self._queue([track_id], summary)

    async def _mark(self, ids: list[str], missing: bool) -> None:
        await self._catalog.tracks.set_many(ids, {"missing": missing})
        await self._catalog.cache.invalidate("track", *ids)
        for track_id in ids:
            await self._catalog.library("track", track_id, "updated")

    async def _keep_lyrics(self, tracks: list[tuple[str, FileTags]], *, changed: bool = False) -> None:
        """Lyrics from the files' tags or ``.lrc`` sidecars; a changed file replaces what it gave."""
        store = self._catalog.lyrics
        if store is None:
            return
        for track_id, tags in tracks:
            if tags.lyrics is not None or changed:
                await store.put_from_file(track_id, tags.lyrics)

    async def _resolve(self, all_tags: list[FileTags]) -> None:
        """Find or create, in bulk, the artists and albums these tags name that this scan has not met."""
        unknown = {t.artist_key: t.artist for t in all_tags if t.artist_key not in self._artists}
        if unknown:
            found = await self._catalog.resolve_artists(list(unknown.values()), None)
            self._artists.update((key, artist.id) for key, artist in found.items())
        wanted: dict[tuple[str, str], tuple[str, str, int | None]] = {}
        for t in all_tags:
            if t.album is not None:
                artist_id = self._artists[t.artist_key]
                if (artist_id, t.album_key) not in self._albums:
                    wanted[(artist_id, t.album_key)] = (t.album, artist_id, t.year)
        if wanted:
            found_albums = await self._catalog.resolve_albums(list(wanted.values()), None)
            self._albums.update((key, album.id) for key, album in found_albums.items())

    def _fields(self, tags: FileTags) -> dict[str, Any]:
        artist_id = self._artists[tags.artist_key]
        return {
            "title": tags.title,
            "artist_id": artist_id,
            "album_id": self._albums.get((artist_id, tags.album_key)) if tags.album is not None else None,
            "genre": tags.genre,
            "release_year": tags.year,
            "track_no": tags.track_no,
            "duration_ms": tags.duration_ms,
            # The file's own ReplayGain figures, used as they are (a ladder made on play is then not
            # analysed for loudness; an eager transcode measures and replaces them).
            "loudness": tags.loudness,
        }

    def _readiness(self) -> dict[str, Any]:
        """A new or changed file's state: ready at once on play, else processing until transcoded."""
        if self._on_play:
            return {"status": "ready", "progress": 100, "on_play": True}
        return {"status": "processing", "progress": 0, "on_play": False}

    async def _queue(self, ids: list[str], summary: ScanSummary) -> None:
        if self._enqueue is None or self._on_play:
            return
        for track_id in ids:
            await self._enqueue(track_id)
            summary.queued += 1


def _storable(path: str) -> bool:
    """Whether a path can be a key in the store at all (file names need not be valid UTF-8)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def _read_all(files: list[FoundFile]) -> list[tuple[FoundFile, FileTags | str]]:
    """Tags of each file, or the reason it cannot be imported. Blocking: run in a thread or a worker."""
    out: list[tuple[FoundFile, FileTags | str]] = []
    for f in files:
        if not _storable(f.path):
            out.append((f, "the file name is not valid UTF-8"))
            continue
        if f.size == 0:
            out.append((f, "the file is empty"))
            continue
        try:
            tags = read_tags(Path(f.path), sidecar_lyrics=True, cover=False)
        except OSError as exc:
            out.append((f, f"cannot be read ({exc.strerror or exc})"))
            continue
        if tags.duration_ms is None:
            out.append((f, "not a readable audio file"))
            continue
        artist = (
            clean_name(tags.artist, NAME_MAX) or clean_name(tags.album_artist, NAME_MAX) or UNKNOWN_ARTIST
        )
        album = clean_name(tags.album, TITLE_MAX)
        named = FileTags(
            title=clean_name(tags.title, TITLE_MAX) or title_from_filename(f.path) or UNTITLED,
            artist=artist,
            artist_key=sort_key(artist),
            album=album,
            album_key=sort_key(album),
            genre=clean_name(tags.genre, GENRE_MAX),
            year=tags.year,
            track_no=tags.track_no,
            duration_ms=tags.duration_ms,
            lyrics=tags.lyrics,
            loudness=tags.replaygain.loudness() if tags.replaygain else None,
        )
        out.append((f, named))
    return out
