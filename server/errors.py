"""The one error hierarchy. Stores and services raise these; one middleware turns them into JSON.

Each class carries its HTTP status and a stable snake_case code (API.md, "Errors").
"""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """The process cannot start with the configuration it was given."""


class AppError(Exception):
    status = 500
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

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class Invalid(AppError):
    status = 400
    code = "invalid_input"
    default_message = "The request is not valid."


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    default_message = "Missing or invalid credentials."


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"
    default_message = "This method is not allowed here."


class Conflict(AppError):
    status = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class Gone(AppError):
    status = 410
    code = "gone"
    default_message = "This is no longer available."


class TooLarge(AppError):
    status = 413
    code = "too_large"
    default_message = "The request body is too large."


class UnsupportedMedia(AppError):
    status = 415
    code = "unsupported_media"
    default_message = "This media type is not supported."


class RangeNotSatisfiable(AppError):
    status = 416
    code = "range_not_satisfiable"
    default_message = "The requested range cannot be served."


class Unprocessable(AppError):
    status = 422
    code = "unprocessable"
    default_message = "The file could not be processed."


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    default_message = "Too many requests; slow down."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(
            message, details={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)}
        )


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    default_message = "A service this request needs is unavailable; try again shortly."

    def __init__(self, dependency: str, retry_after: int = 5) -> None:
        super().__init__(details={"dependency": dependency}, headers={"Retry-After": str(retry_after)})
