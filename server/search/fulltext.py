"""The words of the library on disk: tantivy indexes (one per kind), memory-mapped and shared by every
process of the machine.

One document per :class:`~server.search.rows.Row`. Words are folded by :func:`server.search.text.words`
before they reach tantivy (its ``whitespace`` tokenizer only splits them again), so indexing and
querying agree on accents, case and apostrophes. Scoring reproduces the rules search always had,
with constant scores instead of BM25:

- a query word matches a field word exactly (1.0), as a prefix (0.6) or, from five letters, within
  one typo (0.5), times the field's weight (own title 3, artist name 2, album title 1); a word's
  score is its best match, and a hit's score is the sum over the query words, all of which must match;
- equal scores are ordered by plays: each document carries ``boost``, which tantivy's
  ``weight_by_field`` turns into a factor just above 1 that grows with the play count, far too small
  to move a hit past a different score (:func:`play_factor`). The caller sorts the few hits of a page
  exactly, by score, plays, title and id.

Prefixes of one to three letters (the first keystrokes) match a large part of the vocabulary: each
word's prefixes of that length are indexed in their own fields (``p0``-``p2``), so such a prefix is one
term to look up instead of thousands (at a million tracks the p95 of the index alone went 38 → 27 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import tantivy

from server.search.rows import KINDS, Kind, Row
from server.search.text import MIN_TYPO_LENGTH, words

FIELD_WEIGHTS = (3.0, 2.0, 1.0)
"""Own title/name, artist name, album title."""
EXACT = 1.0
PREFIX = 0.6
TYPO = 0.5
SHORT_PREFIX = 3
"""Prefixes up to this length are indexed as terms of their own."""
PLAY_WEIGHT = 1e-3
"""How far plays may lift a score (0.1 %): less than the smallest relative gap between two distinct
scores (they differ by at least 0.1, in sums below 30 for up to ten query words: 0.3 %)."""
NO_YEAR = -1
SORT_FIELDS = {"title": "s_title", "year": "s_year", "plays": "s_plays"}
"""Composite sort keys (text fast fields): one field orders by several keys, the id last, as listings do."""
_MAX_PLAYS = 10**15


def play_factor(play_count: int) -> float:
    """What ``weight_by_field`` multiplies a score by: 1 for no plays, approaching 1 + PLAY_WEIGHT."""
    return 1.0 + PLAY_WEIGHT * play_count / (play_count + 1000)


def _boost(play_count: int) -> float:
    # tantivy multiplies the score by log2(2 + boost); this boost makes that the play factor.
    return 2.0 ** play_factor(play_count) - 2.0


def sort_keys(row: Row) -> dict[str, str]:
    """The composite sort keys of a row: title; year (newest first, none last); plays (most first)."""
    tail = f"{row.title_key}\x00{row.id}"
    year = f"0{9999 - row.year:04d}" if row.year is not None and 0 <= row.year <= 9999 else "1"
    return {
        "s_title": tail,
        "s_year": f"{year}{tail}",
        "s_plays": f"{_MAX_PLAYS - min(row.play_count, _MAX_PLAYS - 1):016d}{tail}",
    }


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("unfinished", "owner", "artist", "genre"):
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for n in range(len(FIELD_WEIGHTS)):
        sb.add_text_field(f"f{n}", tokenizer_name="whitespace", index_option="basic")
        sb.add_text_field(f"p{n}", tokenizer_name="whitespace", index_option="basic")
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_float_field("boost", fast=True)
    for name in SORT_FIELDS.values():
        sb.add_text_field(name, fast=True, tokenizer_name="raw", index_option="basic")
    return sb.build()


SCHEMA = _schema()
SCHEMA_VERSION = 5  # 5: a ready track whose scanned file vanished is a "missing" row
"""Bumped whenever the schema or the way rows become documents changes: the index is then rebuilt."""


def document(row: Row, genres: list[str]) -> tantivy.Document:
    """The tantivy document of ``row``; ``genres`` are those an album or artist is found by."""
    doc = tantivy.Document()
    doc.add_text("id", row.id)
    if row.status != "ready":
        doc.add_text("unfinished", "1")
    if row.owner_id:
        doc.add_text("owner", row.owner_id)
    if row.artist_id:
        doc.add_text("artist", row.artist_id)
    for genre in [row.genre_key] if row.kind == "track" else genres:
        if genre:
            doc.add_text("genre", genre)
    for n, text in enumerate(row.texts):
        found = list(dict.fromkeys(words(text)))
        if found:
            doc.add_text(f"f{n}", " ".join(found))
            doc.add_text(f"p{n}", " ".join({w[:k] for w in found for k in range(1, SHORT_PREFIX + 1)}))
    doc.add_integer("year", row.year if row.year is not None else NO_YEAR)
    doc.add_float("boost", _boost(row.play_count))
    for name, value in sort_keys(row).items():
        doc.add_text(name, value)
    return doc


@dataclass(frozen=True, slots=True)
class Filters:
    """What narrows a search besides its words."""

    kind: Kind
    viewer_id: str | None = None
    everything: bool = True
    """False: only ready tracks and the viewer's own."""
    genre_key: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    artist_id: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    kind: Kind
    id: str
    score: float


def _const(query: tantivy.Query, score: float) -> tantivy.Query:
    return tantivy.Query.const_score_query(query, score)


def _word_query(term: str) -> tantivy.Query:
    """A query word's best match over the three fields, as exact word, prefix or typo."""
    subs: list[tantivy.Query] = []
    for n, weight in enumerate(FIELD_WEIGHTS):
        field = f"f{n}"
        subs.append(_const(tantivy.Query.term_query(SCHEMA, field, term), EXACT * weight))
        if len(term) <= SHORT_PREFIX:
            prefix = tantivy.Query.term_query(SCHEMA, f"p{n}", term)
        else:
            # A Levenshtein automaton of distance 0 in prefix mode: the words starting with ``term``.
            # (A regex query does the same but costs ~0.5 ms to compile, nine times per query.)
            prefix = tantivy.Query.fuzzy_term_query(SCHEMA, field, term, 0, True, True)
        subs.append(_const(prefix, PREFIX * weight))
        if len(term) >= MIN_TYPO_LENGTH:
            typo = tantivy.Query.fuzzy_term_query(SCHEMA, field, term, 1, True, False)
            subs.append(_const(typo, TYPO * weight))
    return tantivy.Query.disjunction_max_query(subs)


def _filter_clauses(filters: Filters) -> list[tuple[tantivy.Occur, tantivy.Query]]:
    """Clauses that narrow without scoring (constant 0)."""
    must: list[tantivy.Query] = []
    out: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if filters.kind == "track" and not filters.everything:
        # Hidden: unfinished tracks not the viewer's. Excluding those few (3 % of a library) is far
        # cheaper than requiring "ready or mine", a union of nearly every document.
        unfinished = tantivy.Query.term_query(SCHEMA, "unfinished", "1")
        if filters.viewer_id:
            mine = tantivy.Query.term_query(SCHEMA, "owner", filters.viewer_id)
            hidden = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, unfinished), (tantivy.Occur.MustNot, mine)]
            )
        else:
            hidden = unfinished
        out.append((tantivy.Occur.MustNot, hidden))
    if filters.artist_id is not None:
        must.append(tantivy.Query.term_query(SCHEMA, "artist", filters.artist_id))
    if filters.genre_key is not None:
        must.append(tantivy.Query.term_query(SCHEMA, "genre", filters.genre_key))
    if filters.kind != "artist" and (filters.year_from is not None or filters.year_to is not None):
        must.append(
            tantivy.Query.range_query(
                SCHEMA,
                "year",
                tantivy.FieldType.Integer,
                filters.year_from if filters.year_from is not None else 0,
                filters.year_to if filters.year_to is not None else 100_000,
            )
        )
    return out + [(tantivy.Occur.Must, _const(q, 0.0)) for q in must]


class FullText:
    """The on-disk indexes, one per kind (``path/track`` …): any process searches them; only the
    holder of the library's writer lock changes them.

    One index per kind, not one with a kind field: an album search then walks album postings only,
    and its typo automaton a tenth of the vocabulary (at a million tracks a whole query went from
    three searches of ~1.1 million documents to one of a million and two of 100,000 and 35,000).
    """

    HEAP_BYTES: ClassVar[dict[Kind, int]] = {"track": 128_000_000, "album": 32_000_000, "artist": 16_000_000}
    """Writer memory: a segment is written out when it fills (fewer, larger segments answer faster)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._indexes: dict[Kind, tantivy.Index] = {}
        for kind in KINDS:
            folder = path / kind
            folder.mkdir(parents=True, exist_ok=True)
            exists = tantivy.Index.exists(str(folder))
            self._indexes[kind] = (
                tantivy.Index.open(str(folder)) if exists else tantivy.Index(SCHEMA, str(folder))
            )
        self._writers: dict[Kind, tantivy.IndexWriter] = {}
        self._pending: set[Kind] = set()

    # -- writing (the writer process only) -------------------------------------------------------

    def open_writer(self) -> None:
        """Take tantivy's own writer locks; callers hold the library's writer lock already."""
        for kind, index in self._indexes.items():
            if kind not in self._writers:
                self._writers[kind] = index.writer(heap_size=self.HEAP_BYTES[kind], num_threads=1)

    def put(self, row: Row, genres: list[str]) -> None:
        writer = self._need_writer(row.kind)
        writer.delete_documents_by_term("id", row.id)
        writer.add_document(document(row, genres))
        self._pending.add(row.kind)

    def remove(self, kind: Kind, doc_id: str) -> None:
        self._need_writer(kind).delete_documents_by_term("id", doc_id)
        self._pending.add(kind)

    def clear(self) -> None:
        for kind in KINDS:
            self._need_writer(kind).delete_all_documents()
            self._pending.add(kind)

    def commit(self) -> bool:
        """Make pending changes visible to every process; False if there were none."""
        if not self._pending:
            return False
        for kind in sorted(self._pending):
            self._writers[kind].commit()
            self._indexes[kind].reload()
        self._pending.clear()
        return True

    def close(self) -> None:
        for writer in self._writers.values():
            writer.rollback()
            writer.wait_merging_threads()
        self._writers.clear()

    def _need_writer(self, kind: Kind) -> tantivy.IndexWriter:
        writer = self._writers.get(kind)
        if writer is None:
            raise RuntimeError("this process does not hold the search index's writer")
        return writer

    # -- reading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """See what the writer committed since (cheap when nothing changed)."""
        for index in self._indexes.values():
            index.reload()

    def search(
        self, terms: list[str], filters: Filters, *, sort: str, limit: int, offset: int
    ) -> tuple[list[Hit], int]:
        """Hits ``offset`` to ``offset + limit`` in ``sort`` order, and how many match in all.

        Relevance hits come best first with their scores (ties in any order: see the module's note).
        """
        clauses = [(tantivy.Occur.Must, _word_query(t)) for t in dict.fromkeys(terms)]
        clauses += _filter_clauses(filters)
        query = tantivy.Query.boolean_query(clauses)
        searcher = self._indexes[filters.kind].searcher()
        if sort == "relevance":
            found = searcher.search(query, limit, count=True, offset=offset, weight_by_field="boost")
        else:
            found = searcher.search(
                query,
                limit,
                count=True,
                offset=offset,
                order_by_field=SORT_FIELDS[sort],
                order=tantivy.Order.Asc,
            )
        hits = []
        for score, address in found.hits:
            doc_id = searcher.doc(address)["id"][0]
            hits.append(Hit(filters.kind, doc_id, float(score) if sort == "relevance" else 0.0))
        return hits, int(found.count or 0)


def level(score: float, play_count: int) -> float:
    """A hit's score without its plays factor, rounded to the precision scores are built with."""
    return round(score / play_factor(play_count), 2) if math.isfinite(score) else 0.0
