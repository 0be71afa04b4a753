"""The one error hierarchy. Stores and services raise these; one middleware turns them into JSON.

Each class carries a stable snake_case code (API.md, "Errors"); :data:`HTTP_STATUS` below is the one
table from error classes to HTTP statuses, and :data:`SHARED_ERRORS` the one table that turns the
errors of the shared layer (``media/``: media errors and invalid records, which know nothing of HTTP)
into these. A new error is a new subclass and a row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from media.errors import (
    FileTooComplex,
    MediaError,
    NotAudioFile,
    ToolMissing,
    ToolTimedOut,
    Undecodable,
    UnsafePath,
)
from media.records import InvalidRecord


class ConfigError(Exception):
    """The process cannot start with the configuration it was given."""


class AppError(Exception):
    code = "internal_error"
    default_message = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}

    @property
    def status(self) -> int:
        """The HTTP status of this error, from :data:`HTTP_STATUS` (the nearest class listed)."""
        return http_status(type(self))

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class Invalid(AppError):
    code = "invalid_input"
    default_message = "The request is not valid."


class Unauthorized(AppError):
    code = "unauthorized"
    default_message = "Missing or invalid credentials."


class Forbidden(AppError):
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(AppError):
    code = "not_found"
    default_message = "Not found."


class MethodNotAllowed(AppError):
    code = "method_not_allowed"
    default_message = "This method is not allowed here."


class Conflict(AppError):
    code = "conflict"
    default_message = "The request conflicts with the current state."


class PreconditionFailed(AppError):
    code = "precondition_failed"
    default_message = "A precondition of the request does not hold."


class Gone(AppError):
    code = "gone"
    default_message = "This is no longer available."


class TooLarge(AppError):
    code = "too_large"
    default_message = "The request body is too large."


class UnsupportedMedia(AppError):
    code = "unsupported_media"
    default_message = "This media type is not supported."


class RangeNotSatisfiable(AppError):
    code = "range_not_satisfiable"
    default_message = "The requested range cannot be served."


class Unprocessable(AppError):
    code = "unprocessable"
    default_message = "The file could not be processed."


class InsufficientStorage(AppError):
    code = "insufficient_storage"
    default_message = "The server is out of disk space; nothing was stored. Try again later."


class RateLimited(AppError):
    code = "rate_limited"
    default_message = "Too many requests; slow down."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(
            message, details={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)}
        )


class ServiceUnavailable(AppError):
    code = "service_unavailable"
    default_message = "A service this request needs is unavailable; try again shortly."

    def __init__(self, dependency: str, retry_after: int = 5) -> None:
        super().__init__(details={"dependency": dependency}, headers={"Retry-After": str(retry_after)})


ERROR_TABLE: dict[type[AppError], tuple[int, int]] = {
    # error                  HTTP  Subsonic (0 generic, 10 bad parameter, 40 wrong credentials,
    #                              50 not authorised, 70 not found)
    AppError:               (500, 0),
    Invalid:                (400, 10),
    Unauthorized:           (401, 40),
    Forbidden:              (403, 50),
    NotFound:               (404, 70),
    MethodNotAllowed:       (405, 0),
    Conflict:               (409, 0),
    Gone:                   (410, 70),
    PreconditionFailed:     (412, 0),
    TooLarge:               (413, 10),
    UnsupportedMedia:       (415, 0),
    RangeNotSatisfiable:    (416, 0),
    Unprocessable:          (422, 0),
    RateLimited:            (429, 0),
    ServiceUnavailable:     (503, 0),
    InsufficientStorage:    (507, 0),
}  # fmt: skip
"""Every error class's HTTP status and Subsonic error code, side by side, for both APIs; a subclass not
listed takes its nearest listed base's."""

HTTP_STATUS: dict[type[AppError], int] = {cls: status for cls, (status, _) in ERROR_TABLE.items()}


def _row(cls: type[AppError]) -> tuple[int, int]:
    for base in cls.__mro__:
        if base in ERROR_TABLE:
            return ERROR_TABLE[base]
    return ERROR_TABLE[AppError]


def http_status(cls: type[AppError]) -> int:
    return _row(cls)[0]


def subsonic_code(cls: type[AppError]) -> int:
    """The Subsonic API's error code of an error (the same table as the HTTP status)."""
    return _row(cls)[1]


def error_for_status(status: int, message: str | None = None) -> AppError:
    """The error of an HTTP status aiohttp produced itself (unknown route, wrong method, body too large)."""
    for cls, listed in HTTP_STATUS.items():
        if listed == status and cls is not AppError:
            return cls(message)
    return AppError(message, code="http_error")


SHARED_ERRORS: dict[type[Exception], Callable[[Any], AppError]] = {
    InvalidRecord: lambda exc: Invalid(f"The {exc.kind} is not valid.", details={"fields": exc.fields}),
    ToolMissing: lambda exc: ServiceUnavailable("ffmpeg"),
    ToolTimedOut: lambda exc: ServiceUnavailable("ffmpeg"),
    NotAudioFile: lambda exc: UnsupportedMedia(
        f"This is not an audio file: {exc.reason}.", code="not_audio", details={"reason": exc.reason}
    ),
    Undecodable: lambda exc: Unprocessable(
        f"The audio cannot be decoded: {exc.reason}.",
        code="undecodable_audio",
        details={"reason": exc.reason},
    ),
    FileTooComplex: lambda exc: Unprocessable(
        f"The file is too complex to read within our limits: {exc.reason}.",
        code="file_too_complex",
        details={"reason": exc.reason},
    ),
    UnsafePath: lambda exc: NotFound(),
    MediaError: lambda exc: Unprocessable(
        f"The file could not be processed: {exc.reason}.", details={"reason": exc.reason}
    ),
}
"""How an error of the shared layer reaches an HTTP client; the nearest listed class decides."""

SHARED = (MediaError, InvalidRecord)
"""What :func:`from_shared_error` takes (every class it has a row for derives from one of these)."""


def from_shared_error(exc: Exception) -> AppError:
    for base in type(exc).__mro__:
        if base in SHARED_ERRORS:
            return SHARED_ERRORS[base](exc)
    raise TypeError(type(exc))  # MediaError and InvalidRecord are listed: unreachable for SHARED
