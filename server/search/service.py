"""Search: a library index on disk per machine, kept in step with the catalog, answering as-you-type queries.

Why on disk (tantivy for the words, SQLite for rows; measured with ``bench/library.py``):

- Each ``serve`` process used to build its own in-memory index at start: 215 MB and ~25 s at 100,000
  tracks, so ~2 GB and minutes at a million, times ``serve --workers N``. The index now lives in
  ``data_dir/search`` (:mod:`server.search.library`): memory-mapped files the operating system shares
  between processes, opened in milliseconds, never rebuilt at start.
- tantivy (a search library in Rust, with a Python binding) answers exact, prefix and one-typo
  matches from its term dictionary without scanning documents; rows, ordered listings and the
  views of results come from SQLite B-trees by id. Neither reads the catalog store on a query, so a
  query costs the same on the embedded store and on MongoDB.
- The rules (what matches, how it scores, what a listener may see) are those search always had:
  :mod:`server.search.fulltext`.

Keeping it current, also across processes (several ``serve`` replicas, the transcoder, ``scan``):
one process per machine writes the index (the holder of its writer lock; another takes over if it
dies), every process reads it.

1. ``library`` events and ``track`` status events seen by the writer re-read that one document at once.
2. Every ``search_refresh_seconds`` the writer catches up (in the background while other processes
   read the index, else before its own queries): it reads what changed since the last
   ``updated_at`` seen (an indexed, sorted range read of a few ms), with a small overlap for clocks
   and late commits; documents already seen at that ``updated_at`` are skipped. Deletes leave no
   ``updated_at`` behind: the catalog records a tombstone for each (``server/catalog/deletions.py``),
   read the same way by ``deleted_at``. The watermarks are saved with each commit, so a restart
   continues from them. Readers reopen the index at most that often, on a query.
3. Every ``search_reconcile_seconds`` the writer compares id sets (a delete whose tombstone is
   missing: a crash between the two writes, a manual delete) and refreshes play counts (playback
   bumps them with ``$inc`` only, so a result's play count can lag by that much).

So a change made in any process shows in search within about ``search_refresh_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from media.events import EventName
from media.records import Album, Artist, InvalidRecord, Track
from server.auth.service import Principal
from server.catalog.schemas import AlbumOut, ArtistOut
from server.catalog.service import CatalogService
from server.documents import utcnow
from server.errors import Invalid
from server.search.library import LibraryIndex, Query
from server.search.rows import Row, compact
from server.search.schemas import MAX_LIMIT, AlbumHits, ArtistHits, SearchOut, SearchQuery, TrackHits
from server.search.store import BATCH, KINDS, Kind, SearchStore
from server.search.text import fold, words

log = structlog.get_logger("harmonystream.search")

OVERLAP = timedelta(seconds=5)
"""Catch-up reads this far behind the newest ``updated_at`` seen (clock skew, commits landing late)."""
BUILD_BATCH = 500
"""Documents indexed per step of a build from nothing, between two yields to the event loop (each
step takes ~0.15 s: requests keep being answered while a first start builds the index)."""
BUILD_COMMIT_EVERY = 100_000
"""A build commits its SQLite rows this often (a bounded write-ahead log). Its full-text documents are
committed once, at the end: every commit closes a tantivy segment, and a query visits every segment
(a million tracks committed every 100,000 left 17 of them)."""
READER_WINDOW = 60.0
"""The writer catches up in the background while another process has read the index this recently."""
WAIT_FOR_WRITER = 0.5
"""How often a reader looks whether the writer has finished the first build."""


@dataclass(frozen=True, slots=True)
class NamedTrack:
    """A track with the names a listing shows beside it."""

    track: Track
    artist_name: str | None
    album_title: str | None


class SearchService:
    def __init__(
        self,
        store: SearchStore,
        catalog: CatalogService,
        folder: Path,
        *,
        refresh_seconds: float = 2.0,
        reconcile_seconds: float = 300.0,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._folder = folder
        self._refresh = refresh_seconds
        self._reconcile_every = reconcile_seconds
        self._index: LibraryIndex | None = None
        self._built = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._last_sync = 0.0
        self._watermark: dict[Kind, datetime] = {}
        self._deleted_mark: datetime | None = None
        self._recent: dict[tuple[Kind, str], datetime] = {}
        self._settled: dict[Kind, datetime] = {}
        """Per kind, a watermark whose whole overlap was read once nothing more could land behind it."""

    @property
    def index(self) -> LibraryIndex:
        if self._index is None:
            self._index = LibraryIndex(self._folder)
        return self._index

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Open (or build) the index, then keep it current. Runs under the app's supervisor, which
        starts it again (with backoff) if it fails, e.g. while the database is down at start."""
        await self.build()
        last_reconcile = time.monotonic()
        while True:
            await asyncio.sleep(self._refresh)
            try:
                # Other processes read what this one commits: catch up for them even without queries
                # here. Alone, a writer catches up on its own queries (``_fresh``) and adds no load.
                stale = time.monotonic() - self._last_sync >= self._refresh
                if stale and self.index.writer and self.index.readers_active(READER_WINDOW + self._refresh):
                    await self.sync()
                if self.index.writer and time.monotonic() - last_reconcile >= self._reconcile_every:
                    last_reconcile = time.monotonic()
                    await self.reconcile()
            except Exception:
                log.exception("search_refresh_failed")

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    async def build(self) -> None:
        """Open the index; the writer builds it from the catalog if it was never built."""
        if self._built.is_set():
            return
        async with self._sync_lock:
            if self._built.is_set():
                return
            index = self.index
            while not index.writer and not index.table.state("built"):
                # Another process is building it: wait for it, or take over if it died.
                await asyncio.sleep(WAIT_FOR_WRITER)
                index.try_become_writer()
            if index.writer and not index.table.state("built"):
                await self._build_from_nothing(index)
            self._load_state(index)
            index.reload()
            self._last_sync = time.monotonic()
            self._built.set()

    async def _build_from_nothing(self, index: LibraryIndex) -> None:
        started_wall = time.monotonic()
        started = utcnow()
        index.clear()
        # Tombstones from here on are applied by the next catch-up; earlier ones are in the scan.
        self._deleted_mark = started - OVERLAP
        count = 0
        for kind in KINDS:  # artists first: their names go into albums and tracks
            batch: list[dict[str, Any]] = []
            async for doc in self._store.stream(kind):
                self._saw(kind, doc)
                batch.append(doc)
                if len(batch) >= BUILD_BATCH:
                    count += self._build_step(index, kind, batch)
                    batch = []
                    if count % BUILD_COMMIT_EVERY < BUILD_BATCH:
                        index.table.commit()
                    await asyncio.sleep(0)
            count += self._build_step(index, kind, batch)
        index.finish_build()
        for kind, mark in self._watermark.items():
            if started - mark > OVERLAP:
                self._settled[kind] = mark  # read in full after its overlap had settled
        index.commit({**self._state(), "built": True})
        log.info("search_index_built", documents=count, seconds=round(time.monotonic() - started_wall, 1))

    @staticmethod
    def _build_step(index: LibraryIndex, kind: Kind, docs: list[dict[str, Any]]) -> int:
        if docs:
            index.build_step(kind, [d for d in docs if _valid(kind, d)])
        return len(docs)

    def _state(self) -> dict[str, Any]:
        return {
            "watermarks": {k: v.isoformat() for k, v in self._watermark.items()},
            "settled": {k: v.isoformat() for k, v in self._settled.items()},
            "deleted_mark": self._deleted_mark.isoformat() if self._deleted_mark else None,
        }

    def _load_state(self, index: LibraryIndex) -> None:
        state = index.state()
        self._watermark = {k: datetime.fromisoformat(v) for k, v in (state["watermarks"] or {}).items()}
        self._settled = {k: datetime.fromisoformat(v) for k, v in (state["settled"] or {}).items()}
        mark = state["deleted_mark"]
        self._deleted_mark = datetime.fromisoformat(mark) if mark else None

    async def ready(self) -> None:
        if not self._built.is_set():
            await self.build()

    # -- keeping current -------------------------------------------------------------------------

    def _saw(self, kind: Kind, doc: dict[str, Any]) -> bool:
        """Note ``doc``'s ``updated_at``; False if this exact version was indexed already."""
        updated = doc.get("updated_at")
        if not isinstance(updated, datetime):
            return True
        key = (kind, doc["_id"])
        if self._recent.get(key) == updated:
            return False
        mark = self._watermark.get(kind)
        if mark is None or updated > mark:
            self._watermark[kind] = updated
        if updated >= self._watermark[kind] - OVERLAP:
            self._recent[key] = updated
        return True

    async def sync(self) -> int:
        """Catch up with changes made by any process since the last ``updated_at`` seen; returns how many.

        In a process that does not write the index, this only looks at what the writer committed
        (or takes over writing, if the writer is gone).
        """
        await self.ready()
        index = self.index
        if not index.try_become_writer():
            index.announce_reader()
            index.reload()
            self._last_sync = time.monotonic()
            return 0
        changed = 0
        async with self._sync_lock:
            now = utcnow()
            for kind in KINDS:
                while True:
                    mark = self._watermark.get(kind, datetime(1970, 1, 1))
                    # The overlap is read again until it has settled: after a big import it can hold
                    # thousands of documents, and reading them on every catch-up stalled requests.
                    since = mark if self._settled.get(kind) == mark else mark - OVERLAP
                    docs = await self._store.changed_since(kind, since)
                    fresh = [d for d in docs if self._saw(kind, d)]
                    for doc in fresh:
                        self._put(kind, doc)
                    changed += len(fresh)
                    if len(docs) < BATCH or not fresh:
                        break
                mark = self._watermark.get(kind)
                if mark is not None and now - mark > OVERLAP:
                    # Read in full after anything stamped before ``mark`` could still land: from now on
                    # catch-ups start at ``mark`` itself (what is stamped equal to it is in _recent).
                    self._settled[kind] = mark
            changed += await self._apply_deletions()
            floor = {k: v - OVERLAP for k, v in self._watermark.items()}
            self._recent = {key: at for key, at in self._recent.items() if at >= floor[key[0]]}
            index.commit(self._state())
            self._last_sync = time.monotonic()
        return changed

    def _put(self, kind: Kind, doc: dict[str, Any]) -> None:
        if _valid(kind, doc):
            self.index.put(kind, doc)
        else:
            self.index.remove(kind, doc["_id"])

    async def _apply_deletions(self) -> int:
        """Forget what was deleted since the last tombstone seen (removing twice is harmless)."""
        removed = 0
        while self._deleted_mark is not None:
            tombstones = await self._store.deleted_since(self._deleted_mark - OVERLAP)
            for stone in tombstones:
                if self.index.remove(stone["kind"], stone["doc_id"]):
                    removed += 1
            newest = max((s["deleted_at"] for s in tombstones), default=self._deleted_mark)
            if len(tombstones) < BATCH or newest <= self._deleted_mark:
                self._deleted_mark = max(newest, self._deleted_mark)
                break
            self._deleted_mark = newest
        return removed

    async def reconcile(self) -> None:
        """Drop what was deleted elsewhere, add what the catch-up missed, refresh play counts (writer)."""
        await self.ready()
        index = self.index
        if not index.try_become_writer():
            return
        async with self._sync_lock:
            for kind in KINDS:
                in_db = await self._store.ids(kind)
                known = index.table.ids(kind)
                for doc_id in known - in_db:
                    index.remove(kind, doc_id)
                missing = list(in_db - known)
                for start in range(0, len(missing), 100):
                    found = await self._store.fetch(kind, missing[start : start + 100], projected=True)
                    for doc in found.values():
                        self._put(kind, doc)
            counts = index.table.play_counts()
            for track_id, count in (await self._store.play_counts()).items():
                if counts.get(track_id, count) != count:
                    index.set_play_count(track_id, count)
            index.commit(self._state())
        await self._store.prune_deletions()

    async def on_library(self, event: EventName, payload: dict, user_id: str | None) -> None:
        """``library`` {kind, id, action}: re-read (or forget) that one document."""
        kind = payload.get("kind")
        if kind not in KINDS or not self._built.is_set():
            return
        await self.refresh_one(kind, payload["id"], deleted=payload.get("action") == "deleted")

    async def on_track(self, event: EventName, payload: dict, user_id: str | None) -> None:
        """``track`` status events: a track turning ready becomes searchable for everyone."""
        if payload.get("status") in ("ready", "failed") and self._built.is_set():
            await self.refresh_one("track", payload["id"])

    async def refresh_one(self, kind: Kind, doc_id: str, *, deleted: bool = False) -> None:
        """Re-read one document now (the writer only: the others see it at its next commit)."""
        if not self.index.try_become_writer():
            return
        doc = None if deleted else (await self._store.fetch(kind, [doc_id], projected=True)).get(doc_id)
        async with self._sync_lock:
            if doc is None:
                self.index.remove(kind, doc_id)
            else:
                self._saw(kind, doc)
                self._put(kind, doc)
            self.index.commit(self._state())

    # -- answering -------------------------------------------------------------------------------

    def parse(self, principal: Principal, params: SearchQuery) -> Query:
        return Query(
            terms=words(params.q),
            kinds=tuple(params.type.split(",")),  # type: ignore[arg-type]
            genre_key=fold(params.genre.strip()) if params.genre and params.genre.strip() else None,
            year_from=params.year_from,
            year_to=params.year_to,
            artist_id=params.artist_id,
            sort=params.sort,
            limit=min(params.limit, MAX_LIMIT),
            offset=params.offset,
            viewer_id=principal.user_id,
            everything=principal.is_admin,
        )

    async def search(self, principal: Principal, params: SearchQuery) -> SearchOut:
        query = self.parse(principal, params)
        if not query.terms:
            raise Invalid(
                "The query has no letters or digits to search for.",
                code="empty_query",
                details={"fields": {"q": "needs at least one letter or digit"}},
            )
        await self._fresh()
        hits = self.index.search(query)
        tracks = [
            self._catalog.track_out(named.track, named.artist_name, named.album_title)
            for named in self._tracks(principal, hits.rows.get("track", []))
        ]
        return SearchOut(
            tracks=TrackHits(items=tracks, total=hits.totals.get("track", 0)),
            albums=AlbumHits(
                items=self._albums(hits.rows.get("album", [])), total=hits.totals.get("album", 0)
            ),
            artists=ArtistHits(
                items=[
                    self._catalog.artist_view(Artist.from_doc(r.doc())) for r in hits.rows.get("artist", [])
                ],
                total=hits.totals.get("artist", 0),
            ),
        )

    # -- the whole catalog, page by page ---------------------------------------------------------

    async def list_tracks(
        self, principal: Principal, offset: int, limit: int
    ) -> tuple[list[NamedTrack], int]:
        """A page of every track ``principal`` may see, by title, and how many there are.

        From the library index, like search results: apps syncing a whole library page through this.
        """
        await self._fresh()
        rows, total = self.index.listing(
            "track", offset, limit, viewer_id=principal.user_id, everything=principal.is_admin
        )
        return self._tracks(principal, rows), total

    async def list_albums(self, offset: int, limit: int) -> tuple[list[AlbumOut], int]:
        """A page of every album, by title, and how many there are."""
        await self._fresh()
        rows, total = self.index.listing("album", offset, limit, viewer_id=None, everything=True)
        return self._albums(rows), total

    async def list_artists(self, offset: int, limit: int) -> tuple[list[ArtistOut], int]:
        """A page of every artist, by name, and how many there are."""
        await self._fresh()
        rows, total = self.index.listing("artist", offset, limit, viewer_id=None, everything=True)
        return [self._catalog.artist_view(Artist.from_doc(r.doc())) for r in rows], total

    async def _fresh(self) -> None:
        """Built, and caught up (a reader: reopened) if the last look is older than the refresh period."""
        await self.ready()
        if time.monotonic() - self._last_sync >= self._refresh and not self._sync_lock.locked():
            await self.sync()

    def _tracks(self, principal: Principal, rows: list[Row]) -> list[NamedTrack]:
        """The tracks of ``rows`` that ``principal`` may see, with their names."""
        out = []
        for row in rows:
            track = Track.from_checked_doc(row.doc())  # checked when it entered the index (_valid)
            if track.play_count != row.play_count:
                track = replace(track, play_count=row.play_count)
            if self._catalog.can_see(principal, track):
                out.append(NamedTrack(track, row.artist_name, row.album_title))
        return out

    def _albums(self, rows: list[Row]) -> list[AlbumOut]:
        return [self._catalog.album_out(Album.from_doc(r.doc()), r.artist_name, r.cover_id) for r in rows]


def _valid(kind: Kind, doc: dict[str, Any]) -> bool:
    """One broken track document must not break every search and listing it would appear in."""
    if kind != "track":
        return True
    try:
        Track.from_doc(compact(doc))
    except InvalidRecord as exc:
        log.warning("search_index_skipped_track", track_id=doc.get("_id"), problems=exc.fields)
        return False
    return True
