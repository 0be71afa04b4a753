"""An in-memory inverted index of one kind of catalog entry (tracks, albums or artists).

Each entry has up to three weighted text fields (its own title or name, its artist's name, its
album's title). Every word maps to one list of slots per field; a sorted vocabulary
answers prefixes with two bisections, and one-typo lookups generate the edits of the query word.

Why it is shaped like this (measured in ``bench/search.py``):

- A term's matches are kept as score levels (exact, prefix, typo, times the field weight), each one
  list of slots, best first: enough to count, filter and rank a one-term query. Per-slot best scores
  (``dict.update(dict.fromkeys(slots, score))`` in ascending order, at C speed) are built only when
  terms are combined, and a large term is combined with a small one by intersecting the small set
  with its levels rather than by building its scores.
- Prefixes of one or two letters (the first keystrokes, and the start of each next word) match a
  large part of the vocabulary: their slots are kept ready per field (``_short``), so that "m" does
  not gather the postings of ~8,000 words on every keystroke.
- Updates never edit a postings list: a changed entry gets a new slot and its old slot is marked
  dead; the index compacts itself when a quarter of the slots are dead.
- Sort keys are precomputed tuples per slot. A page of a large match set walks a cached global
  order and stops after ``k`` hits; a small match set is ordered with ``heapq.nsmallest`` keyed by a
  C ``__getitem__``. Relevance walks score levels best first, so only ties at the cut are sorted.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import KeysView, Sequence
from dataclasses import dataclass

from server.search.text import MIN_TYPO_LENGTH, words

FIELD_WEIGHTS = (3.0, 2.0, 1.0)
"""Own title/name, artist name, album title."""
EXACT = 1.0
PREFIX = 0.6
TYPO = 0.5
SHORT_PREFIX = 2
"""Prefixes up to this length have their slots kept ready (``TextIndex._short``)."""
_MAX_CHAR = "\U0010ffff"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(slots=True)
class Entry:
    """What filtering and sorting need to know of one track, album or artist."""

    id: str
    texts: tuple[str | None, ...]
    title_key: str
    year: int | None = None
    artist_id: str | None = None
    album_id: str | None = None
    genre_key: str | None = None
    genre: str | None = None
    """As the catalog spells it, for reasons such as "Popular in Jazz"."""
    status: str = "ready"
    owner_id: str | None = None
    play_count: int = 0


class TextIndex:
    def __init__(self) -> None:
        self.entries: list[Entry | None] = []
        self.slot: dict[str, int] = {}
        # One {word: slots} per field: most words occur in one field only, so no empty lists are kept.
        self._postings: tuple[dict[str, list[int]], ...] = tuple({} for _ in FIELD_WEIGHTS)
        # {prefix: slots having a word with that prefix} per field, for prefixes up to SHORT_PREFIX.
        self._short: tuple[dict[str, list[int]], ...] = tuple({} for _ in FIELD_WEIGHTS)
        self._words: set[str] = set()
        self._vocab: list[str] = []
        self._vocab_sorted = True
        self._dead_slots: set[int] = set()
        self._snapshots: dict[str, _Snapshot] = {}
        self._changes = 0
        """Bumped by every put and remove: what cached listings are checked against."""
        self._listings: dict[tuple[str, bool], _Listing] = {}
        self.by_artist: dict[str, set[int]] = {}
        self.by_album: dict[str, set[int]] = {}
        self.by_genre: dict[str, set[int]] = {}
        self.not_ready: set[int] = set()
        # Sort keys per slot; ids close every tuple so that equal keys order the same on every store.
        self.title_order: list[tuple] = []
        self.year_order: list[tuple] = []
        self.plays_order: list[tuple] = []
        self._sort_keys = {"title": self.title_order, "year": self.year_order, "plays": self.plays_order}

    def __len__(self) -> int:
        return len(self.slot)

    def get(self, entry_id: str) -> Entry | None:
        slot = self.slot.get(entry_id)
        return None if slot is None else self.entries[slot]

    def ids(self) -> set[str]:
        return set(self.slot)

    # -- writing ---------------------------------------------------------------------------------

    def put(self, entry: Entry) -> None:
        """Add ``entry`` or replace the entry with the same id."""
        self.remove(entry.id)
        self._changes += 1
        slot = len(self.entries)
        self.entries.append(entry)
        self.slot[entry.id] = slot
        for field_no, text in enumerate(entry.texts):
            field_words = dict.fromkeys(words(text))
            for word in field_words:
                if word not in self._words:
                    self._words.add(word)
                    self._vocab.append(word)
                    self._vocab_sorted = False
                postings = self._postings[field_no].get(word)
                if postings is None:
                    postings = self._postings[field_no][word] = []
                postings.append(slot)
            short = self._short[field_no]
            for prefix in {w[:n] for w in field_words for n in range(1, SHORT_PREFIX + 1)}:
                slots = short.get(prefix)
                if slots is None:
                    short[prefix] = [slot]
                else:
                    slots.append(slot)
        for mapping, key in (
            (self.by_artist, entry.artist_id),
            (self.by_album, entry.album_id),
            (self.by_genre, entry.genre_key),
        ):
            if key:
                mapping.setdefault(key, set()).add(slot)
        if entry.status != "ready":
            self.not_ready.add(slot)
        self.title_order.append((entry.title_key, entry.id))
        self.year_order.append((entry.year is None, -(entry.year or 0), entry.title_key, entry.id))
        self.plays_order.append((-entry.play_count, entry.title_key, entry.id))

    def set_play_count(self, entry_id: str, play_count: int) -> None:
        """Cheap in-place change: play counts move often and are no part of the text."""
        slot = self.slot.get(entry_id)
        entry = None if slot is None else self.entries[slot]
        if entry is not None and slot is not None and entry.play_count != play_count:
            entry.play_count = play_count
            self.plays_order[slot] = (-play_count, entry.title_key, entry.id)

    def remove(self, entry_id: str) -> Entry | None:
        slot = self.slot.pop(entry_id, None)
        if slot is None:
            return None
        self._changes += 1
        entry = self.entries[slot]
        self.entries[slot] = None
        self._dead_slots.add(slot)
        if entry is not None:
            for mapping, key in (
                (self.by_artist, entry.artist_id),
                (self.by_album, entry.album_id),
                (self.by_genre, entry.genre_key),
            ):
                if key and key in mapping:
                    mapping[key].discard(slot)
                    if not mapping[key]:
                        del mapping[key]
        self.not_ready.discard(slot)
        if len(self._dead_slots) > 1000 and len(self._dead_slots) * 4 > len(self.entries):
            self._compact()
        return entry

    def _compact(self) -> None:
        live = [e for e in self.entries if e is not None]
        self.__init__()  # type: ignore[misc]
        for entry in live:
            self.put(entry)

    # -- reading ---------------------------------------------------------------------------------

    def match(self, term: str, *, prefix: bool) -> Matches:
        """Entries containing ``term`` (as a word, a word prefix, or within one typo); dead slots included."""
        if not self._vocab_sorted:
            self._vocab.sort()
            self._vocab_sorted = True
        groups: list[tuple[float, list[str]]] = []
        if term in self._words:
            groups.append((EXACT, [term]))
        short = prefix and len(term) <= SHORT_PREFIX
        if prefix and not short:
            lo = bisect_left(self._vocab, term)
            hi = bisect_left(self._vocab, term + _MAX_CHAR, lo)
            completions = [w for w in self._vocab[lo:hi] if w != term]
            if completions:
                groups.append((PREFIX, completions))
        if len(term) >= MIN_TYPO_LENGTH:
            typos = [w for w in self._typo_words(term) if w != term]
            if typos:
                groups.append((TYPO, typos))
        # One list of slots per (quality, field); a prefix such as "mor" spans thousands of words, so
        # the inner loop only concatenates lists.
        by_score: dict[float, list[int]] = {}
        for quality, group in groups:
            for postings, weight in zip(self._postings, FIELD_WEIGHTS, strict=True):
                slots: list[int] = []
                get = postings.get
                for word in group:
                    found = get(word)
                    if found:
                        slots += found
                if slots:
                    by_score.setdefault(round(quality * weight, 3), []).extend(slots)
        if short:
            # Ready-made: every slot with a word starting with ``term``. Those whose word *is* the term
            # are also at the exact level above, which is higher, so their best score is unchanged.
            for ready, weight in zip(self._short, FIELD_WEIGHTS, strict=True):
                slots = ready.get(term)
                if slots:
                    by_score.setdefault(round(PREFIX * weight, 3), []).extend(slots)
        return Matches(sorted(by_score.items(), reverse=True))

    def _typo_words(self, term: str) -> set[str]:
        """Words of the vocabulary one edit away from ``term``, by generating the edits and looking them up.

        Generating (~55 per letter) costs far less memory than a stored deletion neighbourhood, which
        measured over 200 MB at 100,000 tracks. Substitutions and insertions use ASCII letters and
        digits plus the letters of the term itself.
        """
        alphabet = set(_ALPHABET) | set(term)
        splits = [(term[:i], term[i:]) for i in range(len(term) + 1)]
        edits = {a + b[1:] for a, b in splits if b}
        edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        edits |= {a + c + b[1:] for a, b in splits if b for c in alphabet}
        edits |= {a + c + b for a, b in splits for c in alphabet}
        return edits & self._words

    def query(self, terms: Sequence[str]) -> Matches:
        """Entries matching every term (each as a word, a prefix, or with one typo), scores summed."""
        if not terms:
            return Matches([])
        per_term = sorted((self.match(t, prefix=True) for t in terms), key=lambda m: m.size)
        if len(per_term) == 1:
            return per_term[0]
        scores = per_term[0].scores
        for other in per_term[1:]:
            if other.size > 4 * len(scores):
                # A broad term ("m" after "morning"): walk its levels, best first, through the few
                # slots still in play, instead of building its scores for tens of thousands of slots.
                left = set(scores)
                combined: dict[int, float] = {}
                for score, slots in other.levels:
                    hit = left.intersection(slots)
                    for slot in hit:
                        combined[slot] = scores[slot] + score
                    left -= hit
                    if not left:
                        break
                scores = combined
            else:
                more = other.scores
                scores = {slot: s + more[slot] for slot, s in scores.items() if slot in more}
        grouped: dict[float, list[int]] = {}
        for slot, score in scores.items():
            grouped.setdefault(round(score, 3), []).append(slot)
        return Matches(sorted(grouped.items(), reverse=True), scores)

    def candidates(self, matches: Matches) -> set[int]:
        """The live slots among ``matches``."""
        return matches.slots() - self._dead_slots

    # -- ordering --------------------------------------------------------------------------------

    def top(self, cands: set[int], k: int, order: str, matches: Matches) -> list[int]:
        """The first ``k`` of ``cands`` in ``order``: relevance, title, year (newest first) or plays."""
        if k <= 0 or not cands:
            return []
        if order != "relevance":
            return self._ordered(order, cands, k)
        picked: list[int] = []
        seen: set[int] = set()
        # Levels come best first; a slot appears at its best level before any lower one.
        for _score, slots in matches.levels:
            level = cands.intersection(slots)
            level -= seen
            if not level:
                continue
            seen |= level
            picked.extend(self._ordered("plays", level, k - len(picked)))
            if len(picked) >= k:
                break
        return picked

    def _ordered(self, order: str, cands: set[int], k: int) -> list[int]:
        keys = self._sort_keys[order]
        if len(cands) * 20 < len(self.slot) or k > 500:
            return heapq.nsmallest(k, cands, key=keys.__getitem__)
        # Many candidates: walk a global order snapshot and stop after k hits.
        snapshot = self._snapshot(order)
        out: list[int] = []
        for slot in snapshot.slots:
            if slot in cands:
                out.append(slot)
                if len(out) >= k:
                    break
        newer = cands.intersection(range(snapshot.upto, len(self.entries)))
        if newer:
            out = heapq.nsmallest(k, [*out, *newer], key=keys.__getitem__)
        return out

    def listing(
        self, order: str, *, hidden: set[int] | None = None, owner_id: str | None = None
    ) -> list[int]:
        """Every live slot in ``order``, but those in ``hidden`` not owned by ``owner_id``. Read only.

        Kept between calls, so paging through it costs a slice per page. A change to the index
        (every put and remove: a changed entry is a new slot) drops the dead slots and puts the new
        ones in place, which at 100,000 entries costs milliseconds where sorting again costs ~100.
        """
        keys = self._sort_keys[order].__getitem__
        entries = self.entries
        key = (order, hidden is not None)
        cached = self._listings.get(key)
        if cached is None:
            snapshot = self._snapshot(order)
            cached = _Listing(-1, snapshot.upto, [s for s in snapshot.slots if entries[s] is not None])
        if cached.changes != self._changes:
            slots = (
                [s for s in cached.slots if entries[s] is not None] if cached.changes >= 0 else cached.slots
            )
            newer = [s for s in range(cached.upto, len(entries)) if entries[s] is not None]
            if len(newer) > 1000:
                slots += newer
                slots.sort(key=keys)  # Timsort: a sorted run and a tail, in about one pass
            else:
                for slot in newer:
                    insort(slots, slot, key=keys)
            if hidden is not None:
                slots = [s for s in slots if s not in hidden]
            cached = self._listings[key] = _Listing(self._changes, len(entries), slots)
        slots = cached.slots
        if hidden and owner_id is not None:
            own = [s for s in hidden if (e := entries[s]) is not None and e.owner_id == owner_id]
            if own:
                # An uploader's own unfinished tracks (rare, and few): put in place for them alone.
                slots = list(slots)
                for slot in own:
                    insort(slots, slot, key=keys)
        return slots

    def warm(self) -> None:
        """Remake the global order snapshots now (off the request path) rather than on first use."""
        self._snapshots.clear()
        for order in self._sort_keys:
            self._snapshot(order)

    def _snapshot(self, order: str) -> _Snapshot:
        snap = self._snapshots.get(order)
        # Play counts change in place, so the "plays" order can drift; it is remade by ``warm`` after
        # each reconcile (off the request path), not here: a remake sorts every entry (~0.3 s).
        if snap is None or len(self.entries) - snap.upto > 2000:
            keys = self._sort_keys[order]
            live = [s for s, e in enumerate(self.entries) if e is not None]
            live.sort(key=keys.__getitem__)
            snap = self._snapshots[order] = _Snapshot(live, len(self.entries))
        return snap


class Matches:
    """The entries one term (or a whole query) matches, with their scores."""

    __slots__ = ("_scores", "levels", "size")

    def __init__(self, levels: list[tuple[float, list[int]]], scores: dict[int, float] | None = None) -> None:
        self.levels = levels
        """(score, slots having at least that score for some word), best first; a slot may recur lower."""
        self._scores = scores
        self.size = len(scores) if scores is not None else sum(len(slots) for _, slots in levels)
        """How many slots (counting repeats until the scores are built): what orders terms by cost."""

    @property
    def scores(self) -> dict[int, float]:
        """{slot: best score}, built on first use."""
        if self._scores is None:
            best: dict[int, float] = {}
            for score, slots in reversed(self.levels):
                best.update(dict.fromkeys(slots, score))
            self._scores = best
            self.size = len(best)
        return self._scores

    def slots(self) -> set[int] | KeysView[int]:
        if self._scores is not None:
            return self._scores.keys()
        return set().union(*(slots for _, slots in self.levels))


@dataclass(frozen=True, slots=True)
class _Listing:
    changes: int
    """The index's change count it was made at (-1: made from a snapshot, not yet checked)."""
    upto: int
    """Slots from here on were added after it was made."""
    slots: list[int]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    slots: list[int]
    upto: int
    """Slots from here on were added after the snapshot."""
