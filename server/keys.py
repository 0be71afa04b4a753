"""Every ``web.AppKey`` of the application, typed. Sub-apps read them through ``request.config_dict``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from aiohttp import web

from server.settings import Settings

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Any)
REDIS = web.AppKey("redis", aioredis.Redis)
METRICS = web.AppKey("metrics", "Metrics")
API = web.AppKey("api", "Api")
RATE_LIMITER = web.AppKey("rate_limiter", "RateLimiter")
HASHER = web.AppKey("hasher", "PasswordHasher")
TOKENS = web.AppKey("tokens", "TokenCodec")
USERS = web.AppKey("users", "UserStore")
AUTH = web.AppKey("auth", "AuthService")
EVENTS = web.AppKey("events", "EventBus")
TRACKS = web.AppKey("tracks", "TrackStore")

# Per-request state.
PRINCIPAL = web.RequestKey("principal", "Principal")
REQUEST_ID = web.RequestKey("request_id", str)
CSRF_FAILED = web.RequestKey("csrf_failed", bool)
OPENAPI = web.AppKey("openapi", dict)
