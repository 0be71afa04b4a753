"""Times as the API writes them (ISO 8601 UTC with milliseconds and a Z), apart from the HTTP layer
so that the schemas of every module can use them without importing aiohttp."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def iso(value: datetime) -> str:
    """ISO 8601 UTC with a Z; stores hand back naive datetimes that are UTC."""
    if value.tzinfo is None:
        return value.isoformat(timespec="milliseconds") + "Z"
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]
"""A time in a JSON answer: ISO 8601 UTC with milliseconds and a Z, as API.md asks, whether the store
handed back a naive UTC datetime (the embedded store, PyMongo without tz_aware) or an aware one."""
