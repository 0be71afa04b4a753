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
LYRICS = web.AppKey("lyrics", "LyricsStore")
PLAYBACK = web.AppKey("playback", "PlaybackService")
HISTORY = web.AppKey("history", "HistoryStore")
REALTIME = web.AppKey("realtime", "RealtimeHub")
CATALOG = web.AppKey("catalog", "CatalogService")
INGEST = web.AppKey("ingest", "IngestService")
DELIVERY = web.AppKey("delivery", "DeliveryService")
ONPLAY = web.AppKey("onplay", "OnPlayLadders")
"""Ladders made on play; present only when scans make them (``HS_SCAN_LADDERS=on-play``)."""
JOBS = web.AppKey("jobs", "JobQueue")
"""The transcode job queue; always present once the app started."""
WORKER = web.AppKey("worker", "Worker")
"""The in-process transcoder worker; present only when ``serve`` transcodes itself."""
SCANS = web.AppKey("scans", "ScanRunner")
"""Folder scans started through the API (state in Redis, tasks in this process)."""
SEARCH = web.AppKey("search", "SearchService")
PLAYLISTS = web.AppKey("playlists", "PlaylistService")
RECOMMEND = web.AppKey("recommend", "RecommendService")
SUPERVISOR = web.AppKey("supervisor", "Supervisor")
APP_PASSWORDS = web.AppKey("app_passwords", "AppPasswordStore")
ANNOTATIONS = web.AppKey("annotations", "Annotations")
PLAY_QUEUES = web.AppKey("play_queues", "PlayQueues")
ACCOUNTS = web.AppKey("accounts", "AccountRemoval")
"""Deleting an account and everything it owns (``server/users/removal.py``)."""
SERVER_VERSION = web.AppKey("server_version", str)

# Per-request state.
PRINCIPAL = web.RequestKey("principal", "Principal")
REQUEST_ID = web.RequestKey("request_id", str)
CSRF_FAILED = web.RequestKey("csrf_failed", bool)
OPENAPI = web.AppKey("openapi", dict)
