"""Documents to JSON text and back, keeping the BSON types the stores use.

JSON has no dates or bytes, so they travel as strings behind a \\x01 tag (not NUL: SQLite's JSON
functions end strings there): ``"\\x01D2026-01-02T03:04:05.678"`` for a date (milliseconds, naive UTC,
as PyMongo returns them), ``"\\x01B<base64>"`` for bytes, ``"\\x01F<repr>"`` for non-finite floats
(SQLite's JSON functions refuse NaN), and ``"\\x01S..."`` for a string that itself began with the tag.
Tagged dates sort by time among themselves and before every plain string, so SQLite orders and
compares them with no help; no document without the tag pays for decoding.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from typing import Any

from bson.errors import InvalidDocument

_TAG = "\x01"
DATE_LOW = "\x01D"  # every encoded date is >= this ...
DATE_HIGH = "\x01E"  # ... and < this
PLAIN_LOW = "\x02"  # plain strings (not starting with the tag) are >= this


def encode_value(value: Any) -> Any:
    """``value`` with dates, bytes and odd floats turned into tagged strings (recursively)."""
    kind = type(value)  # exact types first: this runs for every value of every document written
    if kind is str:
        return _TAG + "S" + value if value.startswith(_TAG) else value
    if kind is dict:
        return {k if type(k) is str else _key(k): encode_value(v) for k, v in value.items()}
    if value is None or kind is int or kind is bool:
        return value
    if kind is list:
        return [encode_value(v) for v in value]
    if isinstance(value, str):
        return _TAG + "S" + value if value.startswith(_TAG) else value
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _TAG + "F" + repr(value)
    if isinstance(value, datetime):
        return DATE_LOW + _iso_millis(value)
    if isinstance(value, dict):
        return {_key(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return _TAG + "B" + base64.b64encode(bytes(value)).decode("ascii")
    raise InvalidDocument(f"cannot encode object: {value!r}, of type: {type(value)}")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidDocument(f"documents must have only string keys, key was {key!r}")
    return key


def _iso_millis(when: datetime) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat(timespec="milliseconds")


def decode_value(value: Any) -> Any:
    if isinstance(value, str):
        if not value.startswith(_TAG):
            return value
        tag, body = value[1:2], value[2:]
        if tag == "D":
            return datetime.fromisoformat(body)
        if tag == "B":
            return base64.b64decode(body)
        if tag == "F":
            return float(body)
        return body if tag == "S" else value
    if isinstance(value, dict):
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(encode_value(doc), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    # json.dumps writes the tag as an escape, so a document without one has nothing tagged in it.
    return decode_value(doc) if "\\u0001" in text else doc


def round_trip(value: Any) -> Any:
    """What reading ``value`` back from the store gives (dates cut to milliseconds, tuples as lists)."""
    return decode_value(encode_value(value))
