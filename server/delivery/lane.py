"""The segment lane: plain HLS segment requests answered at the connection, before aiohttp.

Nearly all of a music server's requests are listeners' players fetching the next segment of a
track, and nearly all of those are the same plain request: ``GET /hls/<token>/<track>/<rung>/seg.m4s``
with no range and no condition, whose answer is the whole file. aiohttp spends ~120 µs of CPU per
request on building request and response objects and running the middleware chain; a bare asyncio
protocol needs ~50 µs (measured on the 2-core development machine, docs/PERFORMANCE.md). So each
connection starts in :class:`LaneProtocol`, which answers such requests itself, with the same headers
the full path gives them, and counts and logs them the same way.

Everything else is handed over, together with every byte still unread, to aiohttp's own protocol
for the rest of the connection: any other method, path or HTTP version, a query string or
percent-encoding, a request with a body, ``Range`` or a conditional header, a playlist (gzip), a
token that does not verify, a file that is not there. So errors, ranges, 304s and everything
RFC 9110 asks for keep exactly one implementation (:mod:`server.delivery.files`), and a browser
that uses one connection for the API and for media simply leaves the lane at its first API call.

The lane never waits: a request is parsed, checked and answered inside ``data_received``. When the
client reads slower than we write, reading pauses until the transport's buffer drains.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import TypeVar

import structlog
from aiohttp.http import SERVER_SOFTWARE

from server.delivery.files import INLINE_MAX, FilePolicy, open_regular, validators_for
from server.delivery.service import DeliveryService, token_cache_control
from server.delivery.signing import MediaGrant
from server.errors import AppError
from server.metrics import Metrics
from server.middleware.access_log import VALID_REQUEST_ID, redact_path
from server.middleware.security_headers import ALWAYS as SECURITY_HEADERS

log = structlog.get_logger("harmonystream.access")

ROUTE = "/hls/{token}/{track_id}/{path}"
"""The route name the full path logs and counts these requests under."""
SEGMENT_SUFFIXES = (b".m4s", b".mp4")
"""Init and media segments. Playlists go through the full path: they may be gzip-encoded."""
MAX_HEAD = 16 * 1024
"""A head this long with no end in sight is aiohttp's to refuse (it allows 8190-byte lines)."""
MAX_REMEMBERED = 100_000
"""Verified (token, track) pairs, and resolved segment paths, remembered; ~100-200 bytes each."""
KEEPALIVE_SECONDS = 75.0
"""An idle connection in the lane is closed after this long (nginx's default); players reconnect."""
# Headers that change the answer, or frame a body: their requests take the full path.
_NOT_PLAIN = frozenset(
    {
        b"range",
        b"if-range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"content-length",
        b"transfer-encoding",
        b"expect",
        b"upgrade",
    }
)
K = TypeVar("K")
V = TypeVar("V")
_TARGET_RE = re.compile(rb"^/hls/([^/?#%]+)/([^/?#%]+)/([^?#%]+)$")


@dataclass(frozen=True, slots=True)
class _File:
    identity: tuple[int, int, int, int]
    """(device, inode, size, mtime in ns): a file is replaced by rename, which changes these."""
    head: bytes
    """Status line and every header that depends only on the file (Cache-Control depends on the token)."""
    body: bytes


class SegmentFiles:
    """Segment files kept in memory (least recently used first out), checked with one ``stat`` per use.

    Reading a segment afresh (open, confinement check, fstat, a 100 KB read, close) cost more than
    everything else the lane does for a request together (docs/PERFORMANCE.md). A cached copy is used
    only while ``stat`` still finds the very file that was read: a replaced file, a deleted track or a
    symlink swapped in (``stat`` follows it to another inode) misses, and the confined open decides.
    """

    def __init__(
        self, budget_bytes: int, confine_root: str, head_for: Callable[[os.stat_result, FilePolicy], bytes]
    ) -> None:
        self._budget = budget_bytes
        self._root = confine_root
        self._head_for = head_for
        self._files: OrderedDict[str, _File] = OrderedDict()
        self._bytes = 0

    def get(self, path: str, policy: FilePolicy) -> _File | None:
        """The file at ``path`` (under the root, a regular file of at most INLINE_MAX bytes), or None.

        ``policy`` is the one ``path``'s name calls for (so always the same for the same path).
        """
        try:
            st = os.stat(path)
        except OSError:
            return None
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._files.get(path)
        if cached is not None and cached.identity == identity:
            self._files.move_to_end(path)
            return cached
        try:
            fobj, st = open_regular(path, self._root)
        except AppError:
            return None
        with fobj:
            if st.st_size > INLINE_MAX:
                return None
            body = os.pread(fobj.fileno(), st.st_size, 0)
        if len(body) != st.st_size:
            return None  # replaced while we read: the full path reports it
        loaded = _File((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), self._head_for(st, policy), body)
        self._store(path, loaded)
        return loaded

    def _store(self, path: str, loaded: _File) -> None:
        old = self._files.pop(path, None)
        if old is not None:
            self._bytes -= len(old.body)
        if len(loaded.body) > self._budget:
            return
        self._files[path] = loaded
        self._bytes += len(loaded.body)
        while self._bytes > self._budget:
            _, evicted = self._files.popitem(last=False)
            self._bytes -= len(evicted.body)


class SegmentLane:
    """Decides whether a request head is one the lane answers, and builds the answer."""

    def __init__(self, delivery: DeliveryService, metrics: Metrics, *, cache_bytes: int) -> None:
        self._delivery = delivery
        self._record = {m: metrics.recorder(m.decode(), ROUTE, 200) for m in (b"GET", b"HEAD")}
        self._grants: dict[tuple[bytes, bytes], MediaGrant] = {}
        self._paths: dict[bytes, tuple[str, FilePolicy]] = {}
        self._files = SegmentFiles(cache_bytes, delivery.confine_root, self._file_head)
        self._date_second = 0
        self._date = b""
        self._debug = log.bind().is_enabled_for(logging.DEBUG)  # the level is set once, at start
        self.answered = 0
        """Requests answered here (the rest were handed over)."""

    def answer(self, head: bytes) -> tuple[bytes, bool] | None:
        """The whole response to ``head`` and whether to close after it; None: the full path answers.

        ``head`` is one request head without its final blank line, with CRLF line ends.
        """
        started = time.perf_counter()
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] != b"HTTP/1.1" or parts[0] not in (b"GET", b"HEAD"):
            return None
        if b"\n" in lines[0] or b"\r" in lines[0]:
            return None
        method, target = parts[0], parts[1]
        if not target.endswith(SEGMENT_SUFFIXES):
            return None
        match = _TARGET_RE.match(target)
        if match is None:
            return None
        request_id = b""
        close = None
        hosts = 0
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or b"\n" in line or b"\r" in line:
                return None  # malformed, folded or oddly framed: aiohttp answers it
            name = name.lower()
            if name in _NOT_PLAIN:
                return None
            if name == b"connection":
                value = value.strip().lower()
                if close is not None or value not in (b"close", b"keep-alive"):
                    return None
                close = value == b"close"
            elif name == b"host":
                hosts += 1
            elif name == b"x-request-id":
                if request_id:
                    return None
                request_id = value.strip()
        if hosts != 1:
            return None  # RFC 9112 §3.2: exactly one Host; aiohttp's parser answers 400 otherwise
        token, track_id, subpath = match.groups()
        grant = self._grant(token, track_id)
        if grant is None:
            return None  # refused: answered (and logged) by the full path
        located = self._locate(track_id, subpath)
        found = self._files.get(*located) if located is not None else None
        if found is None:
            return None
        cache_control = token_cache_control(located[1].cache_control, grant.expires_at)
        if not VALID_REQUEST_ID.match(request_id.decode("latin-1")):
            request_id = os.urandom(16).hex().encode()
        response = b"".join(
            (
                found.head,
                b"Cache-Control: ",
                cache_control.encode(),
                b"\r\nX-Request-ID: ",
                request_id,
                b"\r\nDate: ",
                self._http_date(),
                b"\r\nConnection: close\r\n\r\n" if close else b"\r\n\r\n",
                found.body if method == b"GET" else b"",
            )
        )
        elapsed = time.perf_counter() - started
        self.answered += 1
        self._record[method](elapsed)
        # Media answers are logged at debug level only (server.middleware.access_log says why).
        if self._debug:
            log.debug(
                "request",
                request_id=request_id.decode(),
                method=method.decode(),
                path=redact_path(target.decode()),
                route=ROUTE,
                status=200,
                ms=round(elapsed * 1000, 2),
                user_id=None,
                lane=True,
            )
        return response, bool(close)

    def _grant(self, token_bytes: bytes, track_bytes: bytes) -> MediaGrant | None:
        """The grant if the token opens the track now; a verified grant is remembered until it expires."""
        grant = _remembered(
            self._grants,
            (token_bytes, track_bytes),
            lambda: self._delivery.authorise(token_bytes.decode("ascii"), track_bytes.decode("ascii")),
        )
        if grant is None or grant.expires_at <= time.time() or self._delivery.revoked(grant):
            return None
        return grant

    def _locate(self, track_bytes: bytes, subpath_bytes: bytes) -> tuple[str, FilePolicy] | None:
        """The file path of a segment (the lexical checks of ``DeliveryService.hls_path``), remembered."""
        return _remembered(
            self._paths,
            track_bytes + b"/" + subpath_bytes,
            lambda: self._delivery.hls_path(track_bytes.decode("ascii"), subpath_bytes.decode("ascii")),
        )

    @staticmethod
    def _file_head(st: os.stat_result, policy: FilePolicy) -> bytes:
        """Status line and the headers fixed by the file, as the full path sends them for a segment."""
        validators = validators_for(st)
        lines = [
            b"HTTP/1.1 200 OK",
            b"Content-Type: " + policy.content_type.encode(),
            *(f"{k}: {v}".encode() for k, v in policy.headers.items()),
            b"ETag: " + validators.etag.encode(),
            b"Last-Modified: " + validators.http_date.encode(),
            b"Accept-Ranges: bytes",
            *_SECURITY_LINES,
            b"Content-Length: " + str(st.st_size).encode(),
            _SERVER_LINE,
        ]
        return b"\r\n".join(lines) + b"\r\n"

    def _http_date(self) -> bytes:
        now = int(time.time())
        if now != self._date_second:
            self._date_second, self._date = now, formatdate(now, usegmt=True).encode()
        return self._date


def _remembered(cache: dict[K, V], key: K, compute: Callable[[], V]) -> V | None:
    """``cache[key]``, computed on first use; None (and nothing kept) when ``compute`` refuses."""
    value = cache.get(key)
    if value is None:
        try:
            value = compute()
        except (AppError, UnicodeDecodeError):
            return None
        if len(cache) >= MAX_REMEMBERED:
            cache.clear()  # crude but bounded: what is still in use is computed once more
        cache[key] = value
    return value


_SECURITY_LINES = tuple(f"{k}: {v}".encode() for k, v in SECURITY_HEADERS.items())
_SERVER_LINE = b"Server: " + SERVER_SOFTWARE.encode()


class LaneProtocol(asyncio.Protocol):
    """One client connection: segments answered here until the first request the lane does not take.

    ``fallback`` makes aiohttp's protocol (``web.Server`` is such a factory); at the hand-over it gets
    the transport and every unread byte, exactly as if it had owned the connection from the start.
    """

    def __init__(
        self,
        lane: SegmentLane,
        fallback: Callable[[], asyncio.Protocol],
        connections: set[LaneProtocol],
        *,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        self._lane = lane
        self._keepalive = keepalive
        self._fallback = fallback
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._paused = False
        self._closing = False
        self._eof = False
        self._loop = asyncio.get_running_loop()
        self._last_active = 0.0
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._connections.add(self)
        self._last_active = self._loop.time()
        # One timer per connection, moved only when it fires: re-arming it on every request cost more
        # than parsing the request.
        self._idle = self._loop.call_later(self._keepalive, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave()

    def data_received(self, data: bytes) -> None:
        self._last_active = self._loop.time()
        self._buffer += data
        self._serve()

    def eof_received(self) -> bool | None:
        """The client sent its last request: answer what is still buffered, then close.

        Whatever is buffered is dealt with now: whole requests are answered (here, or by aiohttp after
        a hand-over) and an incomplete one is handed over too, so the connection closes at once
        instead of waiting out the idle timeout.
        """
        self._eof = True
        if self._buffer and not self._closing:
            self._serve()
            return True  # our end stays open until what is answered is written; _serve closes it
        return None

    def pause_writing(self) -> None:
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()
            self._serve()

    def close(self) -> None:
        """Close at once (idle, or server shutdown): nothing is ever half-answered here."""
        if self._transport is not None:
            self._transport.close()

    def _serve(self) -> None:
        transport = self._transport
        while transport is not None and not self._paused and not self._closing:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD or (self._eof and self._buffer):
                    self._hand_over()  # aiohttp answers what cannot be a whole request
                elif self._eof:
                    self._closing = True
                    transport.close()
                return
            answered = self._lane.answer(self._buffer[:end])
            if answered is None:
                self._hand_over()
                return
            response, close = answered
            self._buffer = self._buffer[end + 4 :]
            transport.write(response)
            if close:
                self._closing = True
                transport.close()

    def _hand_over(self) -> None:
        transport = self._transport
        assert transport is not None
        self._leave()
        protocol = self._fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._buffer:
            data, self._buffer = self._buffer, b""
            protocol.data_received(data)
        if self._eof and not protocol.eof_received():
            transport.close()

    def _leave(self) -> None:
        self._connections.discard(self)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._transport = None

    def _check_idle(self) -> None:
        idle = self._loop.time() - self._last_active
        if idle >= self._keepalive and not self._paused:
            self._idle = None
            self.close()
        else:
            self._idle = self._loop.call_later(max(self._keepalive - idle, 0.1), self._check_idle)
