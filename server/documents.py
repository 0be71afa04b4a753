"""Small helpers every store shares: ids, timestamps, and errors the drivers raise when a server is down."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import errors as mongo_errors
from redis import exceptions as redis_errors

MONGO_DOWN: tuple[type[BaseException], ...] = (
    mongo_errors.ConnectionFailure,
    mongo_errors.ServerSelectionTimeoutError,
    mongo_errors.NetworkTimeout,
    mongo_errors.AutoReconnect,
)
REDIS_DOWN: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
)


def new_id() -> str:
    """String ids, time-ordered like MongoDB's own, identical in both stores."""
    return str(ObjectId())


def utcnow() -> datetime:
    # Millisecond precision: that is what both stores keep, so equality checks survive a round trip.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000, tzinfo=None)


def any_of(field: str, values: Sequence[Any]) -> dict[str, Any]:
    """A filter matching documents whose ``field`` is one of ``values`` (any number of them).

    ``$in``: MongoDB answers it from an index, and so does the embedded store (SQL ``IN`` over the
    same expression index), for 10,000 ids as for two.
    """
    values = list(dict.fromkeys(values))
    if len(values) == 1:
        return {field: values[0]}
    return {field: {"$in": values}}
