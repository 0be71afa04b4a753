"""MongoDB update operators, replacements, upsert seeds and projections, applied to Python documents.

Covered: ``$set $unset $setOnInsert $inc $mul $min $max $rename $push ($each, $position, $slice, $sort)
$addToSet ($each) $pull $pullAll $pop``, with dotted paths creating embedded documents on the way.
"""

from __future__ import annotations

import copy
from typing import Any

from pymongo.errors import WriteError

from server.docstore.codec import round_trip
from server.docstore.matching import (
    _field_matches,
    _is_operator_doc,
    compare,
    matches,
    order_key,
    sort_documents,
)


def _fail(message: str) -> WriteError:
    return WriteError(message, code=9)


def check_replacement(replacement: dict[str, Any]) -> None:
    if any(key.startswith("$") for key in replacement):
        raise ValueError("replacement can not include $ operators")


def _parent(doc: dict[str, Any], path: str, create: bool) -> tuple[Any, str]:
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit():
            index = int(part)
            if index >= len(node):
                if not create:
                    return None, parts[-1]
                node.extend([None] * (index + 1 - len(node)))
            if node[index] is None and create:
                node[index] = {}
            node = node[index]
        elif isinstance(node, dict):
            if part not in node:
                if not create:
                    return None, parts[-1]
                node[part] = {}
            node = node[part]
        else:
            if not create:
                return None, parts[-1]
            raise _fail(f"Cannot create field '{part}' in element {node!r}")
    return node, parts[-1]


def _get(doc: dict[str, Any], path: str, default: Any = None) -> Any:
    node, leaf = _parent(doc, path, create=False)
    if isinstance(node, dict):
        return node.get(leaf, default)
    if isinstance(node, list) and leaf.isdigit() and int(leaf) < len(node):
        return node[int(leaf)]
    return default


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    node, leaf = _parent(doc, path, create=True)
    if isinstance(node, list) and leaf.isdigit():
        index = int(leaf)
        node.extend([None] * (index + 1 - len(node)))
        node[index] = value
    elif isinstance(node, dict):
        node[leaf] = value
    else:
        raise _fail(f"Cannot create field '{leaf}' in element {node!r}")


def _drop(doc: dict[str, Any], path: str) -> None:
    node, leaf = _parent(doc, path, create=False)
    if isinstance(node, dict):
        node.pop(leaf, None)
    elif isinstance(node, list) and leaf.isdigit() and int(leaf) < len(node):
        node[int(leaf)] = None


def _array_at(doc: dict[str, Any], path: str, op: str) -> list[Any]:
    current = _get(doc, path, _ABSENT)
    if current is _ABSENT or (current is None and op != "$pull"):
        current = []
        _put(doc, path, current)
    if not isinstance(current, list):
        raise _fail(f"The field '{path}' must be an array but is of type {type(current).__name__}")
    return current


_ABSENT = object()


def apply_update(doc: dict[str, Any], update: dict[str, Any], *, inserting: bool) -> dict[str, Any]:
    """A new document: ``doc`` with ``update`` applied. ``_id`` cannot change."""
    new = copy.deepcopy(doc)
    for op, fields in update.items():
        for path, arg in fields.items():
            if path == "_id" or path.startswith("_id."):
                if op in ("$set", "$setOnInsert") and compare(arg, new.get("_id")) == 0:
                    continue
                raise WriteError(
                    "Performing an update on the path '_id' would modify the immutable field '_id'", code=66
                )
            _apply(new, op, path, round_trip(arg), inserting)
    return new


def _apply(doc: dict[str, Any], op: str, path: str, arg: Any, inserting: bool) -> None:
    if op == "$set":
        _put(doc, path, arg)
    elif op == "$setOnInsert":
        if inserting:
            _put(doc, path, arg)
    elif op == "$unset":
        _drop(doc, path)
    elif op in ("$inc", "$mul"):
        current = _get(doc, path, 0)
        if not isinstance(arg, int | float) or not isinstance(current, int | float):
            raise _fail(f"Cannot apply {op} to a value of non-numeric type at '{path}'")
        _put(doc, path, current + arg if op == "$inc" else current * arg)
    elif op in ("$min", "$max"):
        current = _get(doc, path, _ABSENT)
        order = compare(arg, current) if current is not _ABSENT else None
        if current is _ABSENT or (order is not None and (order < 0 if op == "$min" else order > 0)):
            _put(doc, path, arg)
    elif op == "$rename":
        value = _get(doc, path, _ABSENT)
        if value is not _ABSENT:
            _drop(doc, path)
            _put(doc, arg, value)
    elif op == "$push":
        array = _array_at(doc, path, op)
        items: list[Any] = list(arg["$each"]) if isinstance(arg, dict) and "$each" in arg else [arg]
        position = arg.get("$position") if isinstance(arg, dict) else None
        if position is None:
            array.extend(items)
        else:
            if position < 0:
                position = max(len(array) + position, 0)
            array[position:position] = items
        order = arg.get("$sort") if isinstance(arg, dict) else None
        if order is not None:
            _sort_array(array, order)
        limit = arg.get("$slice") if isinstance(arg, dict) else None
        if limit is not None:
            array[:] = array[:limit] if limit >= 0 else array[limit:]
    elif op == "$addToSet":
        array = _array_at(doc, path, op)
        items = arg["$each"] if isinstance(arg, dict) and "$each" in arg else [arg]
        for item in items:
            if not any(compare(item, have) == 0 for have in array):
                array.append(item)
    elif op in ("$pull", "$pullAll"):
        array = _get(doc, path, None)
        if isinstance(array, list):
            array[:] = [item for item in array if not _pulled(item, arg, op)]
    elif op == "$pop":
        array = _get(doc, path, None)
        if isinstance(array, list) and array:
            array.pop(0 if arg < 0 else -1)
    else:
        raise _fail(f"Unknown modifier: {op}")


def _sort_array(array: list[Any], order: Any) -> None:
    """``$push``'s ``$sort``: the elements by value (1/-1), or documents by fields ({field: 1/-1})."""
    if isinstance(order, dict):
        array[:] = sort_documents(array, list(order.items()))
    else:
        array.sort(key=order_key, reverse=order < 0)


def _pulled(item: Any, arg: Any, op: str) -> bool:
    if op == "$pullAll":
        return any(compare(item, a) == 0 for a in arg)
    if _is_operator_doc(arg):
        return _field_matches([item], arg)
    if isinstance(arg, dict):
        return isinstance(item, dict) and matches(item, arg)
    return compare(item, arg) == 0


def upsert_seed(query: dict[str, Any]) -> dict[str, Any]:
    """The document an upsert starts from: the query's equality conditions."""
    seed: dict[str, Any] = {}
    for key, condition in query.items():
        if key == "$and":
            for sub in condition:
                for k, v in upsert_seed(sub).items():
                    _put(seed, k, v)
        elif key.startswith("$"):
            continue
        elif _is_operator_doc(condition):
            if "$eq" in condition:
                _put(seed, key, round_trip(condition["$eq"]))
        else:
            _put(seed, key, round_trip(condition))
    return seed


def project(doc: dict[str, Any], projection: dict[str, Any] | None) -> dict[str, Any]:
    """The fields a projection keeps (inclusion or exclusion; ``_id`` kept unless excluded)."""
    if not projection:
        return doc
    keep_id = bool(projection.get("_id", 1))
    fields = {k: v for k, v in projection.items() if k != "_id"}
    if not fields or not any(fields.values()):
        left = copy.deepcopy(doc)
        for path in fields:
            _drop(left, path)
        if not keep_id:
            left.pop("_id", None)
        return left
    out: dict[str, Any] = {"_id": doc["_id"]} if keep_id and "_id" in doc else {}
    for path in fields:
        _include(doc, out, path.split("."))
    return out


def _include(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not isinstance(source, dict) or head not in source:
        return
    value = source[head]
    if not rest:
        target[head] = copy.deepcopy(value)
    elif isinstance(value, dict):
        _include(value, target.setdefault(head, {}), rest)
    elif isinstance(value, list):
        items = target.setdefault(head, [{} for item in value if isinstance(item, dict)])
        for item, slot in zip((item for item in value if isinstance(item, dict)), items, strict=False):
            _include(item, slot, rest)
