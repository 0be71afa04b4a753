"""Process settings, read once from ``HS_*`` environment variables.

``Settings`` is frozen and handed to ``create_app``; nothing else in the code reads the environment.
Every field is documented in the README's configuration table.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from media.storage import S3Location
from server.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
"""Where data lives without ``HS_DATA_DIR`` or ``--data-dir``: beside the code, as the README shows."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Sliding-window limits, each as (requests, window seconds)."""

    login_per_ip: tuple[int, int] = (30, 60)
    login_per_username: tuple[int, int] = (10, 60)
    register_per_ip: tuple[int, int] = (10, 3600)
    api_per_client: tuple[int, int] = (1200, 60)
    subsonic_per_client: tuple[int, int] = (6000, 60)
    """Higher than the web API's: an app syncing a million-track library pages through it as fast
    as the server answers (2,000 pages of 500 songs, 20 to 30 a second)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a process needs to know about its environment."""

    data_dir: Path = DEFAULT_DATA_DIR
    """Embedded store, media files and temp uploads live here."""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    """Base URL players reach the server at (for signed media URLs); empty = derived from the request,
    whose host must then be one of ``allowed_hosts``."""
    allowed_hosts: str = ""
    """Comma-separated host names (``*.example.org`` for subdomains) that media URLs may be built on when
    ``public_url`` is empty. Loopback names, IP literals and this machine's host name are always allowed."""
    library_folders: str = ""
    """Folders (``:``-separated) that scans started from the admin console may read; empty: any folder
    the server can read. The ``harmonystream scan`` command is the operator's own and is not limited."""
    metrics_token: str = ""
    """Bearer token that opens ``/metrics``; empty: only direct loopback clients (no proxy) may read it."""
    mongo_url: str = ""
    """Empty means the embedded on-disk store in ``data_dir``."""
    mongo_db: str = "harmonystream"
    redis_url: str = ""
    """Empty means the in-process Redis stand-in (fakeredis)."""
    redis_prefix: str = "hs:"
    """Every Redis key and channel starts with this, so several deployments (or tests) can share a server."""
    secret_key: str = ""
    """Signs JWTs, session cookies and media URLs. Required when ``mongo_url`` or ``redis_url`` is set."""
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 86400
    media_url_ttl: int = 4 * 3600
    jwt_issuer: str = "harmonystream"
    jwt_audience: str = "harmonystream-api"
    cookie_secure: bool = False
    max_upload_mb: int = 500
    min_free_mb: int = 512
    """Free space (MB) the data directory keeps: below it uploads answer 507 before they start, and
    ``/readyz`` and ``hs_disk_free_bytes`` say so."""
    scan_ladders: str = "eager"
    """``eager``: a scanned file is transcoded into the whole ladder before listeners see it, like an
    upload. ``on-play``: it is playable as soon as the scan has read it, and its ladder is made when it
    is played (``media.onplay``); local media only (with a bucket, scans stay eager)."""
    ladder_cache_mb: int = 2048
    """Disk for the segments of ladders made on play; least recently played tracks' segments go first
    (their playlists stay; eager ladders are never evicted)."""
    analysis_concurrency: int = 1
    """Background loudness analyses of tracks whose ladders are made on play, at a time (each is one
    decode on one core)."""
    worker_concurrency: int = 0
    """Parallel transcodes per worker; 0 = number of CPU cores."""
    worker_health_file: str = ""
    """``harmonystream worker`` touches this file every few seconds while its loop runs and Redis
    answers (a container health check reads its age); empty: no file."""
    inprocess_worker: bool = False
    """Run transcoder workers inside ``serve`` even with an external Redis (always on with the embedded
    Redis, which no other process can reach)."""
    job_claim_timeout: float = 30.0
    """Seconds without a heartbeat after which a job's worker is presumed dead and another takes it over."""
    job_max_attempts: int = 5
    """Attempts per transcode job (transient failures and workers that died) before it ends ``failed``."""
    job_retry_delay: float = 10.0
    """Seconds before the first retry of a transiently failed job; doubles with each further attempt."""
    job_poll_interval: float = 2.0
    """Longest a worker waits for a new job before looking for due retries and jobs of dead workers."""
    job_sweep_interval: float = 60.0
    """``serve`` re-queues tracks left ``processing`` without a live job at start and this often after."""
    worker_shutdown_grace: float = 20.0
    """On SIGTERM, seconds in-flight transcodes get to finish before they are handed back to the queue."""
    hash_threads: int = 0
    """Threads that hash passwords off the event loop; 0 = number of CPU cores."""
    dependency_timeout: float = 3.0
    """Seconds before a MongoDB or Redis call is given up and answered with 503."""
    trust_proxy: bool = False
    """Take the client address from X-Forwarded-For (only behind a proxy you run)."""
    accel_redirect: str = ""
    """Internal nginx location prefix for X-Accel-Redirect offload; empty = the server sends files itself."""
    segment_lane: bool = True
    """Answer plain HLS segment requests at the connection, before aiohttp (``server/delivery/lane.py``)."""
    segment_cache_mb: int = 64
    """Memory for recently served segments in the segment lane (0: read every segment afresh)."""
    log_json: bool | None = None
    """None = JSON when stderr is not a terminal."""
    log_level: str = "info"
    search_refresh_seconds: float = 2.0
    """Search catches up with catalog changes made by other processes at most this often (on a query)."""
    search_reconcile_seconds: float = 300.0
    """How often search re-checks which catalog documents exist and refreshes play counts."""
    media_store: str = ""
    """Where media objects live: empty = ``data_dir/media`` on this machine; ``s3://BUCKET[/PREFIX]`` = an
    S3-compatible bucket (``s3_*`` below), which every server and worker then shares."""
    s3_endpoint: str = ""
    """The S3 server's URL (``https://s3.example.org``); empty = AWS for ``s3_region``."""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_delivery: str = "proxy"
    """``proxy``: segments and originals pass through the server, with ranges; ``redirect``: a 302 to a
    presigned URL of the bucket that expires no later than the signed URL it answers."""
    rate_limits: RateLimits = field(default_factory=RateLimits)

    @property
    def embedded(self) -> bool:
        return not self.mongo_url and not self.redis_url

    @property
    def runs_inprocess_worker(self) -> bool:
        """Whether ``serve`` transcodes itself: with the embedded Redis, or when asked to."""
        return not self.redis_url or self.inprocess_worker

    @property
    def scans_on_play(self) -> bool:
        """Whether scanned files get ladders on play: asked for, and media on this machine."""
        return self.scan_ladders == "on-play" and not self.media_store

    @property
    def scan_roots(self) -> tuple[Path, ...]:
        return tuple(Path(os.path.realpath(p)) for p in self.library_folders.split(":") if p.strip())

    @property
    def s3_location(self) -> S3Location | None:
        """The bucket of ``media_store``, or None for local media."""
        if not self.media_store:
            return None
        return S3Location.parse(
            self.media_store,
            endpoint=self.s3_endpoint,
            region=self.s3_region,
            access_key_id=self.s3_access_key_id,
            secret_access_key=self.s3_secret_access_key,
        )

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def web_dir(self) -> Path:
        return PROJECT_ROOT / "web"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``HS_*`` variables; ``overrides`` (e.g. CLI flags) win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "rate_limits":
                continue
            raw = env.get("HS_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        values["rate_limits"] = _rate_limits_from_env(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"])).expanduser().resolve()
        if not values.get("secret_key"):
            if values.get("mongo_url") or values.get("redis_url"):
                raise ConfigError("HS_SECRET_KEY must be set when HS_MONGO_URL or HS_REDIS_URL is set")
            # Not ``cls.data_dir``: in a slots dataclass that is the field's descriptor, not its default.
            data_dir = values.get("data_dir", DEFAULT_DATA_DIR)
            values["secret_key"] = _embedded_secret(Path(str(data_dir)))
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.scan_ladders not in ("eager", "on-play"):
            raise ConfigError("HS_SCAN_LADDERS must be eager or on-play")
        try:
            settings.s3_location  # noqa: B018 - parsed here so a bad HS_MEDIA_STORE stops the start
        except ValueError as exc:
            raise ConfigError(f"HS_MEDIA_STORE={settings.media_store!r} {exc}") from exc
        if settings.s3_delivery not in ("proxy", "redirect"):
            raise ConfigError("HS_S3_DELIVERY must be proxy or redirect")
        return settings


def _parse(name: str, raw: str, annotation: object) -> object:
    kind = str(annotation)
    try:
        if kind.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(f"HS_{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw


def _rate_limits_from_env(env: Mapping[str, str]) -> RateLimits:
    """``HS_RATE_LOGIN_PER_IP=30/60`` and friends: requests per window seconds."""
    values: dict[str, tuple[int, int]] = {}
    for f in fields(RateLimits):
        raw = env.get("HS_RATE_" + f.name.upper())
        if not raw:
            continue
        try:
            count, window = raw.split("/")
            values[f.name] = (int(count), int(window))
        except ValueError as exc:
            raise ConfigError(f"HS_RATE_{f.name.upper()}={raw!r}: expected COUNT/SECONDS") from exc
    return RateLimits(**values)


def _embedded_secret(data_dir: Path) -> str:
    """One machine, zero setup: keep a generated secret beside the embedded store."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(secrets.token_urlsafe(48))
    os.chmod(tmp, 0o600)
    # link() fails if another process won the race; everyone then reads the winner's secret.
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
