"""Search: an in-memory index per process, kept in step with the catalog, answering as-you-type queries.

Why in memory, and not a ``search_index`` collection (measured with ``bench/search.py`` on 100,000
tracks in the embedded store):

- The embedded engine has no ``$text``, and a regex over 100,000 documents takes seconds. A stored
  collection of normalised tokens and prefixes with a multikey index answers one exact key in ~90 ms
  and an ``$in`` of several keys in over a second, and a one-letter prefix matches tens of thousands
  of documents that would all have to be decoded, scored and counted for the totals. Typing "b",
  "be", "bey" would cost seconds per keystroke.
- In memory, a query is a few dictionary lookups and set operations at C speed: p95 well under
  30 ms at 100,000 tracks (figures in docs/PERFORMANCE.md), the same on MongoDB, since the index
  and the scoring are the same code whatever the store; the store is only read to build and refresh it.
- A page is answered from memory too: the index keeps each document as far as the result views
  show it. Reading the page's documents back from the embedded store cost more (p95 ~13 ms for the
  three kinds, plus Redis round trips for names and covers) than the whole in-memory query.
- Cost: the index is rebuilt at start (a projected scan, seconds at 100,000 tracks, in the
  background; searches wait for it) and takes memory in every ``serve`` process (see the benchmark).

Keeping it current, also across processes (several ``serve`` replicas, the transcoder, ``scan``):

1. ``library`` events of this process (catalog writes) and ``track`` status events re-read that one
   document at once.
2. Before a query, at most every ``search_refresh_seconds``, a catch-up reads what changed since the
   last ``updated_at`` seen (an indexed, sorted range read of a few ms), with a small overlap for
   clocks and late commits; documents already seen at that ``updated_at`` are skipped.
   Deletes leave no ``updated_at`` behind: the catalog records a tombstone for each
   (``server/catalog/deletions.py``), read the same way by ``deleted_at``.
3. Every ``search_reconcile_seconds`` a reconcile compares id sets (a delete whose tombstone is
   missing: a crash between the two writes, a manual delete) and refreshes play counts (playback
   bumps them with ``$inc`` only, so a result's play count can lag by that much).

So a change made in another process shows in search within ``search_refresh_seconds``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from media.events import EventName
from media.records import Track
from server.auth.service import Principal
from server.catalog.schemas import AlbumOut, ArtistOut
from server.catalog.service import CatalogService
from server.documents import utcnow
from server.errors import Invalid
from server.search.catalog_index import CatalogIndex, Query
from server.search.schemas import MAX_LIMIT, AlbumHits, ArtistHits, SearchOut, SearchQuery, TrackHits
from server.search.store import BATCH, KINDS, Kind, SearchStore
from server.search.text import fold, words

log = structlog.get_logger("harmonystream.search")

OVERLAP = timedelta(seconds=5)
"""Catch-up reads this far behind the newest ``updated_at`` seen (clock skew, commits landing late)."""
YIELD_EVERY = 2000
"""Documents indexed between two yields to the event loop while building."""


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
        *,
        refresh_seconds: float = 2.0,
        reconcile_seconds: float = 300.0,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._refresh = refresh_seconds
        self._reconcile_every = reconcile_seconds
        self.index = CatalogIndex()
        self._built = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._last_sync = 0.0
        self._watermark: dict[Kind, datetime] = {}
        self._deleted_mark: datetime | None = None
        self._recent: dict[tuple[Kind, str], datetime] = {}
        self._settled: dict[Kind, datetime] = {}
        """Per kind, a watermark whose whole overlap was read once nothing more could land behind it."""

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Build the index, then reconcile it periodically. Runs under the app's supervisor, which
        starts it again (with backoff) if the build fails, e.g. while the database is down at start."""
        await self.build()
        while True:
            await asyncio.sleep(self._reconcile_every)
            try:
                await self.reconcile()
            except Exception:
                log.exception("search_reconcile_failed")

    async def build(self) -> None:
        """Index every artist, album and track (artists first: their names go into the others)."""
        if self._built.is_set():
            return
        async with self._sync_lock:
            if self._built.is_set():
                return
            index = CatalogIndex()
            started = utcnow()
            # Tombstones from here on are applied by the next catch-up; earlier ones are in the scan.
            self._deleted_mark = started - OVERLAP
            for kind in KINDS:
                docs = await self._store.scan(kind)
                for i, doc in enumerate(docs):
                    index.put(kind, doc)
                    self._saw(kind, doc)
                    if i % YIELD_EVERY == YIELD_EVERY - 1:
                        await asyncio.sleep(0)
            for text_index in index.indexes.values():
                text_index.warm()
            for kind, mark in self._watermark.items():
                if started - mark > OVERLAP:
                    self._settled[kind] = mark  # read in full after its overlap had settled
            self.index = index
            self._last_sync = time.monotonic()
            self._built.set()
            # Millions of long-lived objects (entries, postings, documents): out of the cyclic GC's
            # reach, or every full collection walks them all and stalls the loop (at 100,000 tracks a
            # query's p95 went 33 → 26 ms, docs/PERFORMANCE.md). What they later drop is freed by
            # reference counting as usual; ``serve`` freezes its start-up objects the same way.
            gc.collect()
            gc.freeze()

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
        """Catch up with changes made by any process since the last ``updated_at`` seen; returns how many."""
        await self.ready()
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
                        self.index.put(kind, doc)
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
            self._last_sync = time.monotonic()
        return changed

    async def _apply_deletions(self) -> int:
        """Forget what was deleted since the last tombstone seen (removing twice is harmless)."""
        removed = 0
        while self._deleted_mark is not None:
            tombstones = await self._store.deleted_since(self._deleted_mark - OVERLAP)
            for stone in tombstones:
                if self.index.indexes[stone["kind"]].get(stone["doc_id"]) is not None:
                    self.index.remove(stone["kind"], stone["doc_id"])
                    removed += 1
            newest = max((s["deleted_at"] for s in tombstones), default=self._deleted_mark)
            if len(tombstones) < BATCH or newest <= self._deleted_mark:
                self._deleted_mark = max(newest, self._deleted_mark)
                break
            self._deleted_mark = newest
        return removed

    async def reconcile(self) -> None:
        """Drop what was deleted elsewhere, add what the catch-up missed, refresh play counts."""
        await self.ready()
        for kind in KINDS:
            in_db = await self._store.ids(kind)
            index = self.index.indexes[kind]
            known = index.ids()
            for doc_id in known - in_db:
                self.index.remove(kind, doc_id)
            missing = list(in_db - known)
            for start in range(0, len(missing), 100):
                for doc in (
                    await self._store.fetch(kind, missing[start : start + 100], projected=True)
                ).values():
                    self.index.put(kind, doc)
        for track_id, count in (await self._store.play_counts()).items():
            self.index.tracks.set_play_count(track_id, count)
        for text_index in self.index.indexes.values():
            text_index.warm()
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
        doc = None if deleted else (await self._store.fetch(kind, [doc_id], projected=True)).get(doc_id)
        if doc is None:
            self.index.remove(kind, doc_id)
        else:
            self._saw(kind, doc)
            self.index.put(kind, doc)

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
        index = self.index
        tracks = [
            self._catalog.track_out(t, index.artist_names.get(t.artist_id), index.album_title(t.album_id))
            for t in self._tracks(principal, hits.ids.get("track", []))
        ]
        artists = self._docs("artist", hits.ids.get("artist", []))
        return SearchOut(
            tracks=TrackHits(items=tracks, total=hits.totals.get("track", 0)),
            albums=AlbumHits(
                items=self._albums(hits.ids.get("album", [])), total=hits.totals.get("album", 0)
            ),
            artists=ArtistHits(
                items=[self._catalog.artist_view(d) for d in artists],
                total=hits.totals.get("artist", 0),
            ),
        )

    # -- the whole catalog, page by page ---------------------------------------------------------

    async def list_tracks(
        self, principal: Principal, offset: int, limit: int
    ) -> tuple[list[NamedTrack], int]:
        """A page of every track ``principal`` may see, by title, and how many there are.

        From memory, like search results: apps syncing a whole library page through this.
        """
        await self._fresh()
        ids, total = self.index.listing(
            "track", offset, limit, viewer_id=principal.user_id, everything=principal.is_admin
        )
        index = self.index
        return [
            NamedTrack(t, index.artist_names.get(t.artist_id), index.album_title(t.album_id))
            for t in self._tracks(principal, ids)
        ], total

    async def list_albums(self, offset: int, limit: int) -> tuple[list[AlbumOut], int]:
        """A page of every album, by title, and how many there are."""
        await self._fresh()
        ids, total = self.index.listing("album", offset, limit, viewer_id=None, everything=True)
        return self._albums(ids), total

    async def list_artists(self, offset: int, limit: int) -> tuple[list[ArtistOut], int]:
        """A page of every artist, by name, and how many there are."""
        await self._fresh()
        ids, total = self.index.listing("artist", offset, limit, viewer_id=None, everything=True)
        return [self._catalog.artist_view(d) for d in self._docs("artist", ids)], total

    async def _fresh(self) -> None:
        """Built, and caught up with the store if the last catch-up is older than the refresh period."""
        await self.ready()
        if time.monotonic() - self._last_sync >= self._refresh and not self._sync_lock.locked():
            await self.sync()

    def _tracks(self, principal: Principal, ids: list[str]) -> list[Track]:
        """The records of ``ids`` that ``principal`` may see, with their current play counts."""
        index = self.index
        out = []
        for track in (index.track_records.get(i) for i in ids):
            if track is None or not self._catalog.can_see(principal, track):
                continue
            entry = index.tracks.get(track.id)
            if entry is not None and entry.play_count != track.play_count:
                track = replace(track, play_count=entry.play_count)  # counts move in place (set_play_count)
            out.append(track)
        return out

    def _albums(self, ids: list[str]) -> list[AlbumOut]:
        index = self.index
        return [
            self._catalog.album_out(d, index.artist_names.get(d["artist_id"]), index.album_cover(d["_id"]))
            for d in self._docs("album", ids)
        ]

    def _docs(self, kind: Kind, ids: list[str]) -> list[dict[str, Any]]:
        docs = self.index.docs[kind]
        return [docs[i] for i in ids if i in docs]
