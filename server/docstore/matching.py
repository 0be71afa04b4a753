"""MongoDB query semantics in Python: the filter matcher, value ordering and sort keys.

The SQL compiler (``server/docstore/sql.py``) narrows candidates with SQLite's indexes; this module has
the last word on every document whose filter did not compile exactly. Covered: equality (with arrays
matching any element), ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $size $all $elemMatch
$not $and $or $nor``, dotted paths through embedded documents and arrays.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import OperationFailure

_MISSING = object()


def _rank(value: Any) -> int:
    """BSON comparison order: null < numbers < strings < documents < arrays < bytes < bool < dates."""
    if value is None or value is _MISSING:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, int | float):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, dict):
        return 5
    if isinstance(value, list):
        return 6
    if isinstance(value, bytes):
        return 7
    if isinstance(value, datetime):
        return 9
    if isinstance(value, re.Pattern):
        return 11
    return 10


def _instant(when: datetime) -> datetime:
    """A date as the stores keep it: naive UTC, milliseconds (an aware one is converted, as BSON does)."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def order_key(value: Any) -> tuple[Any, ...]:
    """A key that sorts values as MongoDB compares them."""
    rank = _rank(value)
    if rank == 1:
        return (1,)
    if rank == 9:
        return (9, _instant(value))
    if rank == 5:
        return (5, tuple((k, order_key(v)) for k, v in value.items()))
    if rank == 6:
        return (6, tuple(order_key(v) for v in value))
    return (rank, value)


def compare(a: Any, b: Any) -> int | None:
    """-1/0/1, or None when the two are of different types (MongoDB's type bracketing)."""
    ka, kb = order_key(a), order_key(b)
    if ka[0] != kb[0]:
        return None
    return (ka > kb) - (ka < kb)


def values_at(doc: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches in ``doc``, descending into arrays; [] when it reaches none."""
    return list(_walk(doc, path.split(".")))


def _walk(value: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield value
        return
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict):
        if head in value:
            yield from _walk(value[head], rest)
    elif isinstance(value, list):
        if head.isdigit() and int(head) < len(value):
            yield from _walk(value[int(head)], rest)
        for item in value:
            if isinstance(item, dict):
                yield from _walk(item, parts)


def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(doc, sub) for sub in condition):
                return False
        elif key == "$or":
            if not any(matches(doc, sub) for sub in condition):
                return False
        elif key == "$nor":
            if any(matches(doc, sub) for sub in condition):
                return False
        elif key.startswith("$"):
            raise OperationFailure(f"unknown top level operator: {key}", code=2)
        elif not _field_matches(values_at(doc, key), condition):
            return False
    return True


def _is_operator_doc(condition: Any) -> bool:
    return isinstance(condition, dict) and bool(condition) and all(k.startswith("$") for k in condition)


def _field_matches(found: list[Any], condition: Any) -> bool:
    if _is_operator_doc(condition):
        options = condition.get("$options", "")
        return all(_operator(found, op, arg, options) for op, arg in condition.items() if op != "$options")
    if isinstance(condition, re.Pattern):
        return _regex(found, condition)
    return _equals(found, condition)


def _candidates(found: list[Any]) -> Iterator[Any]:
    """The values themselves and, for arrays, each of their elements."""
    for value in found:
        yield value
        if isinstance(value, list):
            yield from value


def _equals(found: list[Any], wanted: Any) -> bool:
    if wanted is None and not found:
        return True
    return any(compare(v, wanted) == 0 for v in _candidates(found))


def _regex(found: list[Any], pattern: re.Pattern[str]) -> bool:
    return any(isinstance(v, str) and pattern.search(v) for v in _candidates(found))


def _operator(found: list[Any], op: str, arg: Any, options: str) -> bool:
    if op == "$eq":
        return _equals(found, arg)
    if op == "$ne":
        return not _equals(found, arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        wanted = {"$gt": (1,), "$gte": (0, 1), "$lt": (-1,), "$lte": (-1, 0)}[op]
        return any(compare(v, arg) in wanted for v in _candidates(found))
    if op == "$in":
        if not isinstance(arg, list | tuple):
            raise OperationFailure("$in needs an array", code=2)
        plain, others = _split_in(arg)
        if plain and any(_hashable_key(v) in plain for v in _candidates(found)):
            return True
        return any(_regex(found, a) if isinstance(a, re.Pattern) else _equals(found, a) for a in others)
    if op == "$nin":
        return not _operator(found, "$in", arg, options)
    if op == "$exists":
        return bool(found) == bool(arg)
    if op == "$regex":
        pattern = arg if isinstance(arg, re.Pattern) else re.compile(arg, _flags(options))
        return _regex(found, pattern)
    if op == "$size":
        return any(isinstance(v, list) and len(v) == arg for v in found)
    if op == "$all":
        return all(_equals(found, a) for a in arg)
    if op == "$elemMatch":
        for value in found:
            for item in value if isinstance(value, list) else ():
                if _is_operator_doc(arg):
                    if _field_matches([item], arg):
                        return True
                elif isinstance(item, dict) and matches(item, arg):
                    return True
        return False
    if op == "$not":
        return not _field_matches(found, arg)
    raise OperationFailure(f"unknown operator: {op}", code=2)


_PLAIN_RANKS = (3, 4, 8, 9)  # numbers, strings, booleans, dates: order_key is (rank, value), hashable


def _hashable_key(value: Any) -> tuple[Any, ...] | None:
    rank = _rank(value)
    if rank == 9:
        return (9, _instant(value))
    return (rank, value) if rank in _PLAIN_RANKS else None


def _split_in(values: list[Any] | tuple[Any, ...]) -> tuple[set[tuple[Any, ...]], list[Any]]:
    """The plain values of an ``$in`` as a set of order keys (1 and 1.0 alike, True apart), and the
    rest (null, documents, arrays, patterns) to compare one by one: 10,000 ids are one lookup per
    value, not 10,000 comparisons."""
    plain: set[tuple[Any, ...]] = set()
    others = []
    for value in values:
        key = _hashable_key(value)
        if key is None:
            others.append(value)
        else:
            plain.add(key)
    return plain, others


def _flags(options: str) -> int:
    flags = 0
    for letter, flag in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL), ("x", re.VERBOSE)):
        if letter in options:
            flags |= flag
    return flags


def sort_key(doc: dict[str, Any], spec: list[tuple[str, int]]) -> tuple[Any, ...]:
    """A key for Python's sort; descending fields are handled by :func:`sort_documents`."""
    key = []
    for path, direction in spec:
        values = list(_candidates(values_at(doc, path))) or [None]
        # An array sorts by its smallest element ascending, its largest descending.
        keys = [order_key(v) for v in values if not isinstance(v, list)] or [order_key(values[0])]
        key.append(min(keys) if direction > 0 else max(keys))
    return tuple(key)


def _one_key(doc: dict[str, Any], spec: list[tuple[str, int]]) -> Any:
    return sort_key(doc, spec)[0]


def sort_documents(docs: list[dict[str, Any]], spec: list[tuple[str, int]]) -> list[dict[str, Any]]:
    # Stable sorts from the last key to the first give a multi-key sort with mixed directions.
    for index in range(len(spec) - 1, -1, -1):
        key = spec[index]
        docs.sort(key=functools.partial(_one_key, spec=[key]), reverse=key[1] < 0)
    return docs
