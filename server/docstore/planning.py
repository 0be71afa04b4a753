"""How many documents a filter matches, guessed from SQLite's statistics, to choose a listing's plan.

A sorted page can walk the index of its sort order and stop after a page of matches, or fetch every
match through a selective index and sort them. Which is faster depends on how many match: "ready
tracks" (nearly all) want the walk, "tracks of these 50 albums" (a few hundred) want the fetch. SQLite
cannot tell them apart (it reads an OR of equalities as a few rows, even with ``ANALYZE`` done), and
MongoDB finds out by racing its plans; here ``sqlite_stat1`` gives rows per key of each index's
leading field, and :func:`estimate` adds them up along the filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.docstore.matching import _is_operator_doc

WALK_SHARE = 0.05
"""Walk the sort order's index when the filter may match at least this share of the collection."""


@dataclass(frozen=True)
class Statistics:
    rows: int
    per_key: dict[str, float]
    """Field → average documents per value, for fields that lead an index."""


def estimate(query: dict[str, Any], stats: Statistics) -> float:
    """An upper guess of the documents ``query`` matches (the whole collection when it cannot tell)."""
    guesses: list[float] = [stats.rows]
    for key, condition in query.items():
        if key == "$and":
            guesses += [estimate(sub, stats) for sub in condition]
        elif key == "$or":
            guesses.append(sum(estimate(sub, stats) for sub in condition))
        elif key.startswith("$") or key not in stats.per_key:
            continue
        elif not _is_operator_doc(condition) or "$eq" in condition:
            guesses.append(stats.per_key[key])
        elif isinstance(condition.get("$in"), list):
            guesses.append(stats.per_key[key] * len(condition["$in"]))
    return float(min(guesses))


def parse_stat1(rows: list[tuple[str, str]], leading: dict[str, str], total: int, sample: int) -> Statistics:
    """Statistics from ``sqlite_stat1`` rows (index name, stat) and each index's leading field.

    ``ANALYZE`` under an ``analysis_limit`` of ``sample`` rows sees at most that many per key: a value
    that fills the sample (a track status) may cover most of the collection, and counts as all of it.
    """
    per_key: dict[str, float] = {"_id": 1.0}
    for index, stat in rows:
        field = leading.get(index)
        numbers = stat.split()
        if field is None or len(numbers) < 2:
            continue
        average = float(numbers[1]) if float(numbers[1]) < sample else float(total)
        per_key[field] = min(per_key.get(field, float(total)), average)
    return Statistics(total, per_key)
