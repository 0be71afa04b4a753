"""Recommendations, each with the reason a person would give.

- For you: artist and genre affinity from the user's latest listens, each listen weighted by
  recency (halving every ``HALF_LIFE_HOURS``), skipping what was just played; at most
  ``PER_ARTIST`` tracks of one artist; topped up with trending tracks.
- Cold start (no history): trending tracks, then the most played tracks with "Popular in <genre>".
- Similar to a track: tracks co-listened by other users (people who played it also played these),
  more by the same artist, then popular tracks of the same genre.

Only ready tracks are recommended. Catalog facts (artist, genre, play count, status) come from the
library index's table (``server/search/table.py``), which holds them for every track and orders them
by plays; pages are read from the database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis.asyncio as aioredis

from server.catalog.service import CatalogService
from server.recommend import trending as trending_sets
from server.recommend.schemas import RecommendationList, RecommendedTrack
from server.recommend.store import ListeningStore
from server.search.rows import Row
from server.search.service import SearchService

ReasonKind = Literal["artist", "genre", "co_listened", "same_artist", "same_genre", "trending", "popular"]

HISTORY = 300
"""Latest listens that shape a user's taste."""
HALF_LIFE_HOURS = 72.0
JUST_PLAYED = 20
"""The latest listens whose tracks are not recommended again right away."""
PER_ARTIST = 3
TOP_ARTISTS = 5
TOP_GENRES = 3


@dataclass(slots=True)
class _Pick:
    track_id: str
    score: float
    reason: str
    kind: ReasonKind


class Picks:
    """Candidates by track id, each keeping its best score and that score's reason."""

    def __init__(self, exclude: set[str]) -> None:
        self.exclude = exclude
        self.by_id: dict[str, _Pick] = {}

    def offer(self, track_id: str, score: float, reason: str, kind: ReasonKind) -> None:
        if track_id in self.exclude:
            return
        old = self.by_id.get(track_id)
        if old is None or score > old.score:
            self.by_id[track_id] = _Pick(track_id, score, reason, kind)

    def ranked(self) -> list[_Pick]:
        return sorted(self.by_id.values(), key=lambda p: (-p.score, p.track_id))


class RecommendService:
    def __init__(
        self,
        *,
        search: SearchService,
        catalog: CatalogService,
        listening: ListeningStore,
        redis: aioredis.Redis,
        prefix: str,
    ) -> None:
        self._search = search
        self._catalog = catalog
        self._listening = listening
        self._redis = redis
        self._prefix = prefix

    def _entry(self, track_id: str) -> Row | None:
        return self._search.index.table.get("track", track_id)

    def _ready(self, entry: Row | None) -> bool:
        return entry is not None and entry.status == "ready"

    def _best_of(self, k: int, *, artist_id: str | None = None, genre_key: str | None = None) -> list[Row]:
        """The ``k`` most played ready tracks of an artist, of a genre, or of the whole library."""
        return self._search.index.table.most_played(k, artist_id=artist_id, genre_key=genre_key)

    def _artist_name(self, artist_id: str) -> str:
        artist = self._search.index.table.get("artist", artist_id)
        return artist.title if artist is not None else "this artist"

    # -- for you ---------------------------------------------------------------------------------

    async def for_you(self, user_id: str, limit: int, *, now: datetime | None = None) -> RecommendationList:
        await self._search.ready()
        now = now or datetime.now(UTC).replace(tzinfo=None)
        plays = await self._listening.recent(user_id, HISTORY)
        if not plays:
            return await self._render(await self._cold_start(limit, set()), limit)
        just_played = {p.track_id for p in plays[:JUST_PLAYED]}
        artists: Counter[str] = Counter()
        genres: Counter[str] = Counter()
        genre_names: dict[str, str] = {}
        for play in plays:
            entry = self._entry(play.track_id)
            if entry is None:
                continue
            hours = max((now - play.played_at).total_seconds() / 3600, 0.0)
            weight = 0.5 ** (hours / HALF_LIFE_HOURS)
            if entry.artist_id:
                artists[entry.artist_id] += weight
            if entry.genre_key:
                genres[entry.genre_key] += weight
                genre_names.setdefault(entry.genre_key, entry.genre or entry.genre_key)
        picks = Picks(just_played)
        top_artist = max(artists.values(), default=1.0)
        top_genre = max(genres.values(), default=1.0)
        for artist_id, affinity in artists.most_common(TOP_ARTISTS):
            name = self._artist_name(artist_id)
            for rank, entry in enumerate(self._best_of(20, artist_id=artist_id)):
                score = 1.0 * affinity / top_artist + 0.3 * genres.get(entry.genre_key or "", 0) / top_genre
                picks.offer(entry.id, score - rank * 0.01, f"Because you played {name}", "artist")
        for genre_key, affinity in genres.most_common(TOP_GENRES):
            for rank, entry in enumerate(self._best_of(30, genre_key=genre_key)):
                picks.offer(
                    entry.id,
                    0.6 * affinity / top_genre - rank * 0.01,
                    f"Because you listen to {genre_names[genre_key]}",
                    "genre",
                )
        chosen = _cap_per_artist([p for p in picks.ranked()], self._entry, PER_ARTIST)
        if len(chosen) < limit:
            extra = await self._cold_start(limit, just_played | {p.track_id for p in chosen})
            chosen.extend(extra)
        return await self._render(chosen, limit)

    async def _cold_start(self, limit: int, exclude: set[str]) -> list[_Pick]:
        """Trending first, then the most played tracks of the catalog."""
        picks: list[_Pick] = []
        seen = set(exclude)
        for track_id, _score in await trending_sets.trending(self._redis, self._prefix, limit=limit * 2):
            if track_id not in seen and self._ready(self._entry(track_id)):
                seen.add(track_id)
                picks.append(_Pick(track_id, 0.0, "Trending now", "trending"))
        if len(picks) < limit:
            for entry in self._best_of(limit * 2 + len(seen)):
                if entry.id in seen:
                    continue
                seen.add(entry.id)
                reason = f"Popular in {entry.genre}" if entry.genre else "Popular on HarmonyStream"
                picks.append(_Pick(entry.id, 0.0, reason, "popular"))
        return picks

    # -- similar ---------------------------------------------------------------------------------

    async def similar(self, principal: Any, track_id: str, limit: int) -> RecommendationList:
        await self._search.ready()
        seed = await self._catalog.visible_track(principal, track_id)
        picks = Picks({track_id})
        listeners = [u for u in await self._listening.listeners_of(track_id, 500) if u != principal.user_id]
        co_listened: Counter[str] = Counter()
        by_user: dict[str, set[str]] = defaultdict(set)
        for play in await self._listening.plays_of(listeners[:100], 5000):
            by_user[play.user_id].add(play.track_id)
        for tracks in by_user.values():
            co_listened.update(tracks)
        most = max(co_listened.values(), default=1)
        for other, users in co_listened.most_common(100):
            if self._ready(self._entry(other)):
                picks.offer(
                    other, 1.0 + users / most, f"Listeners of {seed.title} also played this", "co_listened"
                )
        if seed.artist_id:
            name = self._artist_name(seed.artist_id)
            for rank, entry in enumerate(self._best_of(20, artist_id=seed.artist_id)):
                picks.offer(entry.id, 0.8 - rank * 0.01, f"More from {name}", "same_artist")
        seed_entry = self._entry(track_id)
        if seed_entry is not None and seed_entry.genre_key:
            for rank, entry in enumerate(self._best_of(40, genre_key=seed_entry.genre_key)):
                picks.offer(entry.id, 0.5 - rank * 0.005, f"Popular in {seed_entry.genre}", "same_genre")
        return await self._render(_cap_per_artist(picks.ranked(), self._entry, PER_ARTIST + 2), limit)

    # -- trending --------------------------------------------------------------------------------

    async def trending(self, genre: str | None, limit: int) -> RecommendationList:
        await self._search.ready()
        reason = f"Trending in {genre}" if genre else "Trending now"
        picks = [
            _Pick(track_id, score, reason, "trending")
            for track_id, score in await trending_sets.trending(
                self._redis, self._prefix, genre=genre, limit=limit * 2
            )
            if self._ready(self._entry(track_id))
        ]
        return await self._render(picks, limit)

    # -- output ----------------------------------------------------------------------------------

    async def _render(self, picks: list[_Pick], limit: int) -> RecommendationList:
        """The first ``limit`` picks still ready in the database, as track JSON with their reasons."""
        out: list[RecommendedTrack] = []
        start = 0
        while len(out) < limit and start < len(picks):
            batch = picks[start : start + limit * 2]
            start += len(batch)
            found = await self._catalog.tracks_by_id(p.track_id for p in batch)
            ready = [p for p in batch if p.track_id in found and found[p.track_id].playable]
            views = await self._catalog.track_views([found[p.track_id] for p in ready])
            for pick, view in zip(ready, views, strict=True):
                out.append(RecommendedTrack(**view.model_dump(), reason=pick.reason, reason_kind=pick.kind))
        return RecommendationList(tracks=out[:limit])


def _cap_per_artist(picks: list[_Pick], entry_of: Any, cap: int) -> list[_Pick]:
    counts: Counter[str] = Counter()
    out = []
    for pick in picks:
        entry = entry_of(pick.track_id)
        artist = entry.artist_id if entry else None
        if artist and counts[artist] >= cap:
            continue
        counts[artist or ""] += 1
        out.append(pick)
    return out
