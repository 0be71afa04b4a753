"""Filters and sorts as SQLite over JSON documents, so that declared indexes answer them.

Each collection is a table ``(rid INTEGER PRIMARY KEY, id UNIQUE, doc TEXT)``; an index on fields
``a, b.c`` is an expression index on ``json_extract(doc, '$."a"')``, ``json_extract(doc, '$."b"."c"')``,
and a query uses it when it compares those same expressions, which :func:`field` always writes alike.

:func:`compile_filter` returns SQL that every matching document satisfies, and says whether it is
*exact* (the SQL alone decides) or only narrows the candidates for the Python matcher. A condition on
a path that holds arrays in some document (MongoDB matches any element) or that has no SQL form is
left to Python. Comparisons keep MongoDB's type bracketing by bounding the range of SQLite's own
order (NULL < numbers < text) and of the tagged dates (``server/docstore/codec.py``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from server.docstore.codec import DATE_HIGH, DATE_LOW, PLAIN_LOW, encode_value
from server.docstore.matching import _is_operator_doc

_SAFE_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def field(path: str) -> str:
    """The SQL expression of a document field; ``_id`` is the indexed ``id`` column."""
    if path == "_id":
        return "id"
    return f"json_extract(doc, '{json_path(path)}')"


def json_path(path: str) -> str:
    return "$" + "".join(f'."{part}"' for part in path.split("."))


def sql_path_ok(path: str) -> bool:
    """Whether SQLite's JSON paths can name this field (no array positions, no odd characters)."""
    return all(_SAFE_SEGMENT.match(part) for part in path.split("."))


@dataclass(frozen=True)
class Compiled:
    where: str
    params: list[Any]
    exact: bool
    equalities: frozenset[str]
    """Paths the filter pins to one value in every match (for choosing an index)."""
    bounded: frozenset[str]
    """Paths the filter holds to a non-null value or range (so a partial "exists" index covers them)."""


def _array_touched(path: str, arrays: Collection[str]) -> bool:
    parts = path.split(".")
    return any(".".join(parts[: i + 1]) in arrays for i in range(len(parts)))


def compile_filter(query: dict[str, Any], arrays: Collection[str]) -> Compiled:
    params: list[Any] = []
    clauses, exact = _conjunction(query, arrays, params)
    pinned, bounded = _constrained(query, arrays)
    return Compiled(" AND ".join(clauses) if clauses else "1", params, exact, pinned, bounded)


def _constrained(query: dict[str, Any], arrays: Collection[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(paths pinned to one non-null value, paths held to a non-null value or range) in every match."""
    pinned: set[str] = set()
    bounded: set[str] = set()
    for key, condition in query.items():
        if key == "$and":
            for sub in condition:
                more_pinned, more_bounded = _constrained(sub, arrays)
                pinned |= more_pinned
                bounded |= more_bounded
        elif not key.startswith("$") and not _array_touched(key, arrays):
            if not _is_operator_doc(condition):
                if _scalar(condition) and condition is not None:
                    pinned.add(key)
                    bounded.add(key)
                continue
            if _scalar(condition.get("$eq")) and condition.get("$eq") is not None:
                pinned.add(key)
            if any(_scalar(condition.get(op)) and condition.get(op) is not None for op in _BOUNDS):
                bounded.add(key)
    return frozenset(pinned), frozenset(bounded)


_BOUNDS = ("$eq", "$gt", "$gte", "$lt", "$lte")


def _conjunction(query: dict[str, Any], arrays: Collection[str], params: list[Any]) -> tuple[list[str], bool]:
    """SQL clauses all true of every match, and whether they decide the match alone."""
    clauses: list[str] = []
    exact = True
    for key, condition in query.items():
        if key == "$and":
            for sub in condition:
                inner, sub_exact = _conjunction(sub, arrays, params)
                clauses.extend(inner)
                exact = exact and sub_exact
        elif key == "$or":
            one_field = _one_field_values(condition)
            if one_field is not None:
                # Ids written as an $or of equalities: one IN, not a chain SQLite would refuse past 1,000.
                exact = _compile_field(one_field[0], {"$in": one_field[1]}, arrays, params, clauses) and exact
                continue
            # The OR of supersets is a superset, and exact when every branch is.
            branches = []
            for sub in condition:
                inner, sub_exact = _conjunction(sub, arrays, params)
                branches.append("(" + (" AND ".join(inner) if inner else "1") + ")")
                exact = exact and sub_exact
            clauses.append(_balanced_or(branches))
        elif key.startswith("$"):
            exact = False
        else:
            exact = _compile_field(key, condition, arrays, params, clauses) and exact
    return clauses, exact


def _one_field_values(branches: Any) -> tuple[str, list[Any]] | None:
    """(field, values) when every branch of an ``$or`` is ``{field: plain value}`` of one field."""
    if not isinstance(branches, list) or len(branches) < 2:
        return None
    path = None
    values = []
    for branch in branches:
        if not isinstance(branch, dict) or len(branch) != 1:
            return None
        ((key, value),) = branch.items()
        if key.startswith("$") or (path is not None and key != path) or not _scalar(value):
            return None
        path = key
        values.append(value)
    assert path is not None
    return path, values


def _balanced_or(branches: list[str]) -> str:
    """``a OR b OR …`` nested as a balanced tree: SQLite parses a flat chain one level per term and
    refuses an expression deeper than 1,000."""
    if not branches:
        return "0"
    if len(branches) == 1:
        return branches[0]
    middle = len(branches) // 2
    return f"({_balanced_or(branches[:middle])} OR {_balanced_or(branches[middle:])})"


def _compile_field(
    path: str, condition: Any, arrays: Collection[str], params: list[Any], clauses: list[str]
) -> bool:
    """Append the SQL for one field's condition; False when (some of) it is left to Python."""
    if path != "_id" and (not sql_path_ok(path) or _array_touched(path, arrays)):
        return False
    expr = field(path)
    if not _is_operator_doc(condition):
        sql = _equal(path, expr, condition, params)
        if sql is None:
            return False
        clauses.append(sql)
        return True
    complete = "$regex" not in condition  # a pattern only narrows to its literal prefix
    for op, arg in condition.items():
        sql = _operator(path, expr, op, arg, condition, params)
        if sql is None:
            complete = False
        else:
            clauses.append(sql)
    return complete


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str) or hasattr(value, "isoformat")


def _equal(path: str, expr: str, value: Any, params: list[Any]) -> str | None:
    if not _scalar(value) or (isinstance(value, float) and value != value):
        return None
    if value is None:
        return f"{expr} IS NULL"
    if isinstance(value, bool):
        # json_extract gives 1/0 for true/false, which would also equal the numbers 1 and 0.
        if path == "_id":
            return None
        return f"json_type(doc, '{json_path(path)}') IS '{'true' if value else 'false'}'"
    params.append(encode_value(value))
    return f"{expr} = ?" + _numeric_guard(path, value)


def _numeric_guard(path: str, value: Any) -> str:
    """json_extract gives 1/0 for true/false: a number must also be a JSON number to match."""
    if path == "_id" or not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    return f" AND json_type(doc, '{json_path(path)}') IN ('integer', 'real')"


def _operator(
    path: str, expr: str, op: str, arg: Any, condition: dict[str, Any], params: list[Any]
) -> str | None:
    if op == "$eq":
        return _equal(path, expr, arg, params)
    if op == "$ne":
        inner: list[Any] = []
        sql = _equal(path, expr, arg, inner)
        if sql is None:
            return None
        params.extend(inner)
        # "IS NOT NULL" rather than its negation: SQLite reads that one as a range of an index.
        return f"{expr} IS NOT NULL" if arg is None else f"NOT coalesce({sql}, 0)"
    if op in ("$in", "$nin"):
        if not isinstance(arg, list | tuple) or not all(_scalar(v) for v in arg):
            return None
        parts = []
        numbers = [v for v in arg if isinstance(v, int | float) and not isinstance(v, bool)]
        others = [
            encode_value(v)
            for v in arg
            if _scalar(v) and v is not None and not isinstance(v, bool | int | float)
        ]
        if numbers:
            parts.append(f"({expr} IN ({', '.join('?' * len(numbers))}){_numeric_guard(path, numbers[0])})")
            params.extend(numbers)
        if others:
            parts.append(f"{expr} IN ({', '.join('?' * len(others))})")
            params.extend(others)
        for flag in {v for v in arg if isinstance(v, bool)}:
            parts.append(_equal(path, expr, flag, params) or "0")
        if any(v is None for v in arg):
            parts.append(f"{expr} IS NULL")
        any_of = "(" + " OR ".join(parts) + ")" if parts else "0"
        return any_of if op == "$in" else f"NOT coalesce({any_of}, 0)"
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _range(path, expr, op, arg, params)
    if op == "$exists":
        if path == "_id":
            return "1" if arg else "0"
        return f"json_type(doc, '{json_path(path)}') IS {'NOT ' if arg else ''}NULL"
    if op == "$regex":
        return _regex_prefix(expr, arg, condition.get("$options", ""), params)
    if op == "$options":
        return "1"
    return None


def _range(path: str, expr: str, op: str, arg: Any, params: list[Any]) -> str | None:
    sign = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
    if isinstance(arg, bool) or not _scalar(arg) or arg is None:
        return None
    value = encode_value(arg)
    params.append(value)
    if isinstance(arg, int | float):
        # SQLite orders every number before every text: "< ''" keeps numbers only.
        return (
            f"{expr} {sign} ?"
            + (" AND " + expr + " < ''" if sign[0] == ">" else "")
            + _numeric_guard(path, arg)
        )
    if isinstance(value, str) and value.startswith(DATE_LOW):
        # Bounds as parameters: SQL text may not hold the NUL that tags a date.
        upward = sign[0] == ">"
        params.append(DATE_HIGH if upward else DATE_LOW)
        return f"{expr} {sign} ? AND {expr} {'<' if upward else '>='} ?"
    if isinstance(arg, str):
        # Plain text is '' or at least PLAIN_LOW; below PLAIN_LOW lie the tagged dates and bytes,
        # and below all text the numbers: each bound keeps to plain text.
        if sign[0] == ">" and value >= PLAIN_LOW:
            return f"{expr} {sign} ?"
        params.pop()
        if sign[0] == ">":
            params.append(PLAIN_LOW)
            return f"({expr} >= ? OR {expr} = '')" if sign == ">=" else f"{expr} >= ?"
        params.extend([value, PLAIN_LOW])
        return f"{expr} {sign} ? AND ({expr} >= ? OR {expr} = '')"
    return None


def _regex_prefix(expr: str, pattern: Any, options: str, params: list[Any]) -> str | None:
    """An anchored literal prefix (``^abc``) narrows to a range; Python still checks the pattern."""
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if not isinstance(source, str) or "i" in options or not source.startswith("^"):
        return None
    prefix = re.match(r"[^.^$*+?{}\[\]\\|()]*", source[1:])
    literal = prefix.group(0) if prefix else ""
    if not literal:
        return None
    params.extend([literal, literal + "\U0010ffff"])
    return f"{expr} >= ? AND {expr} < ?"


def compile_sort(
    spec: list[tuple[str, int]], arrays: Collection[str], pinned: Collection[str] = ()
) -> str | None:
    """ORDER BY for ``spec``, or None when Python must sort.

    Ties go in insertion order, unless ``_id`` (unique) already breaks them; the tie-break runs the way
    the last key does, so that an index on the keys (which ends in the rowid) serves the whole order.
    Fields the filter ``pinned`` to one value order nothing and are left out: SQLite then sees that an
    index on (pinned field, next key) gives the order, instead of sorting every match.
    """
    terms = []
    for path, direction in spec:
        if path in pinned:
            continue
        if path != "_id" and (not sql_path_ok(path) or _array_touched(path, arrays)):
            return None
        terms.append(f"{field(path)} {'DESC' if direction < 0 else 'ASC'}")
    if not any(path == "_id" for path, _ in spec):
        terms.append("rid DESC" if spec and spec[-1][1] < 0 else "rid")
    return ", ".join(terms)
