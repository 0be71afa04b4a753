"""The part of MongoDB's query language the embedded store implements, checked before anything runs.

The embedded store is a declared subset: a filter, update, sort, projection or call option outside it
raises :class:`Unsupported` (a PyMongo ``OperationFailure``, naming what is not supported) before a
row is read or written, on every path - never a silently different answer.

Filters: ``$and $or $nor`` at the top; on a field: equality (arrays match any element) and ``$eq $ne
$gt $gte $lt $lte $in $nin $exists $regex $options $size $all $elemMatch $not``. Updates: ``$set
$unset $setOnInsert $inc $mul $min $max $rename $push ($each $position $slice $sort) $addToSet
($each) $pull $pullAll $pop``. Sorts: fields ascending (1) or descending (-1). Projections:
inclusion or exclusion of fields (1/0, true/false), ``_id`` either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import OperationFailure

FILTER_LOGIC = frozenset({"$and", "$or", "$nor"})
FIELD_OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$options"}
    | {"$size", "$all", "$elemMatch", "$not"}
)
UPDATE_OPERATORS = frozenset(
    {"$set", "$unset", "$setOnInsert", "$inc", "$mul", "$min", "$max", "$rename", "$push", "$addToSet"}
    | {"$pull", "$pullAll", "$pop"}
)
PUSH_MODIFIERS = frozenset({"$each", "$position", "$slice", "$sort"})
ADD_TO_SET_MODIFIERS = frozenset({"$each"})


class Unsupported(OperationFailure):
    """Something MongoDB answers that the embedded store does not (code 115, MongoDB's own for an
    unsupported command or option)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the embedded store does not support {what}", code=115)


def check_options(call: str, options: Mapping[str, Any]) -> None:
    """Keyword arguments a call was given beyond those the embedded store implements (``session``,
    ``hint``, ``collation``, ``array_filters``…); None counts as not given, as PyMongo treats it."""
    given = sorted(name for name, value in options.items() if value is not None)
    if given:
        raise Unsupported(f"{call}({', '.join(f'{name}=' for name in given)})")


def check_filter(query: Any) -> None:
    if not isinstance(query, Mapping):
        raise Unsupported(f"a filter of type {type(query).__name__}")
    for key, condition in query.items():
        if not isinstance(key, str):
            raise Unsupported(f"the field name {key!r}")
        if key.startswith("$"):
            if key not in FILTER_LOGIC:
                raise Unsupported(f"the query operator {key}")
            if not isinstance(condition, list | tuple) or not condition:
                raise OperationFailure(f"{key} must be a nonempty array", code=2)
            for sub in condition:
                check_filter(sub)
        else:
            _check_condition(key, condition)


def _check_condition(path: str, condition: Any) -> None:
    if not (isinstance(condition, Mapping) and condition and any(str(k).startswith("$") for k in condition)):
        return  # an equality (a document compared whole included)
    for op, arg in condition.items():
        if op not in FIELD_OPERATORS:
            raise Unsupported(f"the query operator {op} (on {path})")
        if op in ("$in", "$nin", "$all") and not isinstance(arg, list | tuple):
            raise OperationFailure(f"{op} needs an array", code=2)
        if op == "$options" and "$regex" not in condition:
            raise OperationFailure("$options needs a $regex", code=2)
        if op == "$size" and (isinstance(arg, bool) or not isinstance(arg, int)):
            raise Unsupported(f"$size with a {type(arg).__name__}")
        if op == "$not":
            if not isinstance(arg, re.Pattern | Mapping):
                raise OperationFailure("$not needs a regex or a document", code=2)
            if isinstance(arg, Mapping):
                _check_condition(path, arg)
        if op == "$elemMatch":
            if not isinstance(arg, Mapping):
                raise OperationFailure("$elemMatch needs an Object", code=2)
            if arg and all(str(k).startswith("$") for k in arg):
                _check_condition(path, arg)
            else:
                check_filter(arg)


def check_update(update: Any) -> None:
    if not isinstance(update, Mapping) or not update:
        raise ValueError("update cannot be empty")
    for op, fields in update.items():
        if not str(op).startswith("$"):
            raise ValueError("update only works with $ operators")
        if op not in UPDATE_OPERATORS:
            raise Unsupported(f"the update operator {op}")
        if not isinstance(fields, Mapping):
            kind = type(fields).__name__
            raise OperationFailure(f"Modifiers operate on fields but we found type {kind}", code=9)
        for path, arg in fields.items():
            if any(part.startswith("$") for part in str(path).split(".")):
                raise Unsupported(f"the positional or array-filter path {path!r}")
            if op in ("$push", "$addToSet"):
                _check_modifiers(op, arg)


def _check_modifiers(op: str, arg: Any) -> None:
    if not isinstance(arg, Mapping) or not any(str(k).startswith("$") for k in arg):
        return  # one value to add
    allowed = PUSH_MODIFIERS if op == "$push" else ADD_TO_SET_MODIFIERS
    for name in arg:
        if name not in allowed:
            raise Unsupported(f"the {op} modifier {name}")
    if "$each" not in arg:
        raise OperationFailure(f"{op} modifiers need $each", code=2)
    if not isinstance(arg["$each"], list | tuple):
        raise OperationFailure("$each needs an array", code=2)
    order = arg.get("$sort")
    by_fields = isinstance(order, Mapping) and all(v in (1, -1) for v in order.values())
    if order is not None and order not in (1, -1) and not by_fields:
        raise OperationFailure("$sort needs 1, -1 or a document of them", code=2)


def check_sort(spec: Iterable[tuple[str, Any]] | None) -> None:
    for path, direction in spec or ():
        if direction not in (1, -1) or isinstance(direction, bool):
            raise Unsupported(f"the sort direction {direction!r} (on {path})")


def check_projection(projection: Mapping[str, Any] | None) -> None:
    if not projection:
        return
    for path, value in projection.items():
        if isinstance(value, Mapping) or not isinstance(value, bool | int):
            raise Unsupported(f"the projection {path}: {value!r}")
    kinds = {bool(v) for k, v in projection.items() if k != "_id"}
    if len(kinds) > 1:
        raise OperationFailure("Cannot do exclusion and inclusion in one projection", code=31254)
