"""Keyset ("cursor") paging for catalog listings: any page as fast as the first.

An offset page makes the store walk past every earlier item, which at a million tracks is a read of
half the library for a page in the middle. A cursor names the last item shown (its sort value and id),
and the next page starts right after it, down an index in sort order.

Null sort values (tracks without a year, albums without a release year) come first ascending and last
descending, as MongoDB orders them. So after an item the listing goes on in runs (the item's ties, the
values beyond it, the nulls), and a page may close one run and open the next. Each run is one range
of the (value, id) index, which both MongoDB and SQLite scan from its start to the page's end.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from server.errors import Invalid

Doc = dict[str, Any]
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of a listing: its records, the total matching, and the cursor of the next page (None
    when this one is the last). Stores make it, as only they know the sort keys behind the cursor."""

    items: list[R]
    total: int
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where the last page ended, for one sort: the sort value and the id of its last item."""

    sort: str
    value: Any
    id: str

    def encode(self) -> str:
        value = {"date": self.value.isoformat()} if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, value, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str) -> PageCursor:
        """The cursor ``text`` for a listing sorted by ``sort``; :class:`Invalid` if it is not one."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            given_sort, value, item_id = json.loads(raw)
            if isinstance(value, dict):
                value = datetime.fromisoformat(value["date"])
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
            raise Invalid(
                "The cursor is not valid.", details={"fields": {"cursor": "not a cursor"}}
            ) from None
        if given_sort != sort:
            raise Invalid(
                "The cursor belongs to another sort order.", details={"fields": {"cursor": "other sort"}}
            )
        if not isinstance(item_id, str) or not (
            value is None or isinstance(value, int | float | str | datetime)
        ):
            raise Invalid("The cursor is not valid.", details={"fields": {"cursor": "not a cursor"}})
        return cls(given_sort, value, item_id)

    @classmethod
    def after(cls, sort: str, field: str, docs: list[Doc], limit: int) -> str | None:
        """The cursor of the page after ``docs``, or None when this page was the last."""
        if len(docs) < limit or not docs:
            return None
        last = docs[-1]
        return cls(sort, last.get(field), last["_id"]).encode()


def sort_field(sort: str, fields: dict[str, str]) -> tuple[str, int]:
    """``"-created_at"`` → ``("created_at", -1)``: the document field and direction of a public sort."""
    return fields[sort.lstrip("-")], -1 if sort.startswith("-") else 1


def cursor_for(text: str | None, sort: str, offset: int) -> PageCursor | None:
    """The cursor a listing was asked to go on from; :class:`Invalid` if it comes with an offset."""
    if text is None:
        return None
    if offset:
        raise Invalid(
            "Page by cursor or by offset, not both.", details={"fields": {"offset": "not with cursor"}}
        )
    return PageCursor.decode(text, sort)


def _runs(field: str, direction: int, after: PageCursor) -> list[Doc]:
    """The filters of the runs still to read, in order, each starting right after ``after``.

    After a value ``v``: first the ties (``field = v`` and a later id), then the values beyond ``v``.
    Each is a single range of the (field, id) index, however many items share ``v``; one filter
    ``field >= v and (field > v or id > i)`` would make the store step over every earlier tie.
    """
    beyond = "$gt" if direction > 0 else "$lt"
    # "$in": [None] is MongoDB's {field: None} (null or missing); the nx-27017 stand-in answers only
    # this spelling right beside another condition (docs/MONGODB.md).
    nulls: Doc = {field: {"$in": [None]}}
    if after.value is None:
        later_nulls = {field: {"$in": [None]}, "_id": {beyond: after.id}}
        return [later_nulls, {field: {"$ne": None}}] if direction > 0 else [later_nulls]
    ties = {field: after.value, "_id": {beyond: after.id}}
    values = {field: {beyond: after.value}}
    return [ties, values] if direction > 0 else [ties, values, nulls]


async def keyset_page(
    collection: Any,
    flt: Doc,
    field: str,
    direction: int,
    *,
    limit: int,
    offset: int = 0,
    after: PageCursor | None = None,
) -> list[Doc]:
    """Up to ``limit`` documents matching ``flt`` in (``field``, ``_id``) order: after the cursor
    ``after`` when given, else ``offset`` documents in."""
    order = [(field, direction), ("_id", direction)]
    if after is None:
        page: list[Doc] = await collection.find(flt).sort(order).skip(offset).limit(limit).to_list(None)
        return page
    docs: list[Doc] = []
    for run in _runs(field, direction, after):
        query = {"$and": [flt, run]} if flt else run
        docs += await collection.find(query).sort(order).limit(limit - len(docs)).to_list(None)
        if len(docs) >= limit:
            break
    return docs
