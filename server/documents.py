"""Small helpers every store shares: ids, timestamps, and errors the drivers raise when a server is down."""

from __future__ import annotations

from datetime import UTC, datetime

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
