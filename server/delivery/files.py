"""Answer a GET or HEAD for one file: validators, conditional requests, byte ranges, gzip, sendfile.

aiohttp's ``FileResponse`` gets several of these wrong (ARCHITECTURE.md, "Known traps"), so this
module decides every answer itself, in RFC 9110 §13.2.2 order:

1. ``If-Match`` (strong), else ``If-Unmodified-Since`` → 412;
2. ``If-None-Match`` (weak), else ``If-Modified-Since`` → 304;
3. ``Range`` on GET only, honoured when ``If-Range`` is absent or matches (an ETag strongly, a date
   exactly) → 206 / multipart 206 / 416, see :mod:`server.delivery.ranges`.

Callers resolve the path lexically first; :func:`open_regular` checks what was really opened.

File system calls run on the event loop, on purpose. Media files are local and hot in the page
cache; an executor hop costs ~80 µs of CPU per request (measured: 326 → 240 µs per segment), more
than the open, fstat and read it would move off the loop. A cold read blocks the loop just as the
kernel's sendfile(2) does, which aiohttp's own FileResponse relies on; nginx makes the same trade
with ``aio off``, its default. Bodies up to ``INLINE_MAX`` go out with their headers in one write;
larger ones (originals) use sendfile.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from server.delivery.ranges import ByteRange, decide_range, unsatisfied_content_range
from server.errors import AppError, NotFound, PreconditionFailed, RangeNotSatisfiable

CONTENT_TYPES: Mapping[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "audio/mp4",
    ".mp4": "audio/mp4",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    # RFC 7845 §9: Ogg Opus files are audio/ogg.
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".wav": "audio/wav",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".webm": "audio/webm",
    ".wma": "audio/x-ms-wma",
    ".jpg": "image/jpeg",
}
"""Our own table: Python 3.11's ``mimetypes`` knows none of .m4s/.m4a/.flac/.opus."""

INLINE_MAX = 1024 * 1024
"""Bodies up to this size are read and written with the headers; larger ones go through sendfile."""
GZIP_MAX_BYTES = 2 * 1024 * 1024
"""Files gzip-eligible by policy are compressed only up to this size (playlists are far smaller)."""
_MULTIPART_CHUNK = 256 * 1024
_ETAG_RE = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def content_type_for(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


@dataclass(frozen=True, slots=True)
class FilePolicy:
    """How one kind of file is answered."""

    content_type: str
    cache_control: str
    gzip: bool = False
    """Send a gzip-encoded copy when the client accepts it (ranges are then ignored: §14.2 allows it)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers on every answer of this file, 304 included (CORS, for instance)."""


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str
    last_modified: int
    """Seconds since the epoch (HTTP dates have whole seconds)."""

    @property
    def http_date(self) -> str:
        return http_date(self.last_modified)


@functools.lru_cache(maxsize=4096)
def http_date(epoch: int) -> str:
    # Cached: a file's Last-Modified is formatted again on every request for it.
    return formatdate(epoch, usegmt=True)


def validators_for(st: os.stat_result, *, variant: str = "") -> Validators:
    """Strong validators: the file changes only by replacement, which changes mtime or size."""
    return Validators(f'"{st.st_mtime_ns:x}-{st.st_size:x}{variant}"', int(st.st_mtime))


async def send_file(
    request: web.Request, path: str | Path, policy: FilePolicy, *, confine_to: str | None = None
) -> web.StreamResponse:
    """The answer to a GET or HEAD for ``path`` under ``policy``; NotFound when it is not a regular file.

    With ``confine_to`` (a real, symlink-free directory ending in "/"), the file actually opened
    must lie under it.
    """
    fobj, st = open_regular(path, confine_to)
    try:
        return await _answer(request, fobj, st, policy)
    except BaseException:
        fobj.close()
        raise


async def _answer(
    request: web.Request, fobj: IO[bytes], st: os.stat_result, policy: FilePolicy
) -> web.StreamResponse:
    headers: dict[str, str] = {"Content-Type": policy.content_type, "Cache-Control": policy.cache_control}
    headers.update(policy.headers)
    use_gzip = False
    if policy.gzip:
        headers["Vary"] = "Accept-Encoding"
        use_gzip = accepts_gzip(request.headers.get("Accept-Encoding", "")) and st.st_size <= GZIP_MAX_BYTES
    validators = validators_for(st, variant="-gzip" if use_gzip else "")
    headers["ETag"] = validators.etag
    headers["Last-Modified"] = validators.http_date

    status = evaluate_preconditions(request, validators)
    if status == 412:
        raise PreconditionFailed()
    if status == 304:
        fobj.close()
        return web.Response(status=304, headers=headers)

    if use_gzip:
        body = _read_gzip(fobj, st.st_size)
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    headers["Accept-Ranges"] = "bytes"
    size = st.st_size
    range_header = request.headers.get("Range")
    if request.method != "GET" or not if_range_allows(request.headers.get("If-Range"), validators):
        # §14.2: Range is defined for GET only; a failed If-Range asks for the whole representation.
        range_header = None
    decision = decide_range(range_header, size)
    if not decision.satisfiable:
        raise RangeNotSatisfiable(
            details={"size": size},
            headers={**policy.headers, "Content-Range": unsatisfied_content_range(size)},
        )
    if decision.whole:
        return _body(request, fobj, 0, size, status=200, headers=headers)
    if len(decision.ranges) == 1:
        part = decision.ranges[0]
        headers["Content-Range"] = part.content_range(size)
        return _body(request, fobj, part.first, part.length, status=206, headers=headers)
    return MultipartBody(fobj, decision.ranges, size, policy.content_type, headers=headers)


def _body(
    request: web.Request, fobj: IO[bytes], offset: int, count: int, *, status: int, headers: dict[str, str]
) -> web.StreamResponse:
    if request.method != "GET" or count > INLINE_MAX:
        return FileBody(fobj, offset, count, status=status, headers=headers)
    with fobj:
        data = os.pread(fobj.fileno(), count, offset)
    if len(data) != count:  # files are replaced by rename, never rewritten in place; so: truncated
        raise AppError("The file changed while being read.")
    return web.Response(status=status, body=data, headers=headers)


@dataclass(frozen=True, slots=True)
class Span:
    """What to send of a representation: ``count`` bytes from ``offset``, with this status and headers."""

    status: int
    offset: int
    count: int
    headers: dict[str, str]


def plan_streamed(
    request: web.Request, validators: Validators, size: int, policy: FilePolicy
) -> Span | web.Response:
    """Preconditions and one byte range for a representation sent as a stream (joined renditions,
    stored objects): a 304 answer, or the span to send; 412 and 416 raised. Several ranges get the
    whole representation (§14.2 allows it); no gzip."""
    headers = {
        "Content-Type": policy.content_type,
        "Cache-Control": policy.cache_control,
        "ETag": validators.etag,
        "Last-Modified": validators.http_date,
        "Accept-Ranges": "bytes",
        **policy.headers,
    }
    status = evaluate_preconditions(request, validators)
    if status == 412:
        raise PreconditionFailed()
    if status == 304:
        return web.Response(status=304, headers=headers)
    range_header = request.headers.get("Range")
    if request.method != "GET" or not if_range_allows(request.headers.get("If-Range"), validators):
        range_header = None  # §14.2: GET only; a failed If-Range asks for the whole representation
    decision = decide_range(range_header, size)
    if not decision.satisfiable:
        unsatisfied = {**policy.headers, "Content-Range": unsatisfied_content_range(size)}
        raise RangeNotSatisfiable(details={"size": size}, headers=unsatisfied)
    if decision.whole or len(decision.ranges) > 1:
        return Span(200, 0, size, headers)
    part = decision.ranges[0]
    headers["Content-Range"] = part.content_range(size)
    return Span(206, part.first, part.length, headers)


def evaluate_preconditions(request: web.Request, validators: Validators) -> int | None:
    """412, 304 or None (go on), per RFC 9110 §13.2.2 steps 1 to 4."""
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        if not etag_matches(if_match, validators.etag, weak=False):
            return 412
    else:
        since = parse_http_date(request.headers.get("If-Unmodified-Since"))
        if since is not None and validators.last_modified > since:
            return 412
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        if etag_matches(if_none_match, validators.etag, weak=True):
            return 304 if request.method in ("GET", "HEAD") else 412
    elif request.method in ("GET", "HEAD"):
        since = parse_http_date(request.headers.get("If-Modified-Since"))
        if since is not None and validators.last_modified <= since:
            return 304
    return None


def if_range_allows(value: str | None, validators: Validators) -> bool:
    """True when Range may be honoured: no If-Range, or it matches (§13.1.5).

    An entity tag must match strongly (a weak one never does); a date must equal Last-Modified.
    """
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return not value.startswith("W/") and value == validators.etag
    return parse_http_date(value) == validators.last_modified


def etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match list names ``etag`` (strong or weak comparison, §8.8.3.2)."""
    if header.strip() == "*":
        return True
    pos = 0
    while pos < len(header):
        m = _ETAG_RE.match(header, pos)
        if m is None or m.end() == pos:
            return False  # malformed list: it names nothing
        is_weak, tag = m.group(1), m.group(2)
        if tag == etag and (weak or not is_weak):
            return True
        pos = m.end()
    return False


def parse_http_date(value: str | None) -> int | None:
    """Seconds since the epoch of an HTTP-date (any of the three §5.6.7 forms), or None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def accepts_gzip(accept_encoding: str) -> bool:
    """``gzip`` (or ``*``) listed with a non-zero q-value."""
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def open_regular(path: str | Path, confine_to: str | None = None) -> tuple[IO[bytes], os.stat_result]:
    """Open ``path`` and stat the open file (so the answer describes what is sent). Blocking.

    The confinement check looks at the file that was really opened (``/proc/self/fd``), so no symlink,
    however placed and whenever swapped in, leads out of ``confine_to``. That is three system calls,
    where resolving every component beforehand (``os.path.realpath``) costs one ``lstat`` per component
    and still leaves a window between the check and the open.
    """
    try:
        fobj = open(path, "rb")  # noqa: SIM115 - the response closes it once sent
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, OSError) as exc:
        raise NotFound("No such file.") from exc
    try:
        if confine_to is not None and not _opened_under(fobj.fileno(), path, confine_to):
            raise NotFound("No such file.")
        st = os.fstat(fobj.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotFound("No such file.")
    except BaseException:
        fobj.close()
        raise
    return fobj, st


def _opened_under(fd: int, path: str | Path, root: str) -> bool:
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: resolve the name instead
        real = os.path.realpath(path)
    return real.startswith(root)


def _read_gzip(fobj: IO[bytes], size: int) -> bytes:
    with fobj:
        return gzip.compress(fobj.read(size), compresslevel=6, mtime=0)


def _read_at(fobj: IO[bytes], offset: int, count: int) -> bytes:
    return os.pread(fobj.fileno(), count, offset)


async def send_file_range(
    request: Any, writer: AbstractStreamWriter, fobj: IO[bytes], offset: int, count: int
) -> None:
    """``count`` bytes of ``fobj`` from ``offset`` onto the request's connection, after the headers:
    sendfile(2), or plain writes where the transport has none (TLS)."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("Connection lost")
    try:
        await asyncio.get_running_loop().sendfile(transport, fobj, offset, count)
    except NotImplementedError:
        await _copy(writer, fobj, offset, count)


class FileBody(web.StreamResponse):
    """``count`` bytes of an open file from ``offset``, sent with sendfile(2); closes the file."""

    def __init__(
        self, fobj: IO[bytes], offset: int, count: int, *, status: int, headers: dict[str, str]
    ) -> None:
        super().__init__(status=status, headers=headers)
        self._file = fobj
        self._offset = offset
        self._count = count
        self.content_length = count

    async def prepare(self, request: Any) -> AbstractStreamWriter | None:
        if self.prepared:
            return self._payload_writer
        try:
            writer = await super().prepare(request)
            if request.method == "HEAD" or self._count == 0:
                return writer
            await send_file_range(request, writer, self._file, self._offset, self._count)
            return writer
        finally:
            # Closing a regular file does not block; doing it here frees the descriptor at once.
            self._file.close()


class MultipartBody(web.StreamResponse):
    """A ``multipart/byteranges`` answer (RFC 9110 §14.6), framed like nginx frames it."""

    def __init__(
        self,
        fobj: IO[bytes],
        ranges: tuple[ByteRange, ...],
        size: int,
        content_type: str,
        *,
        headers: dict[str, str],
    ) -> None:
        boundary = secrets.token_hex(10)
        super().__init__(status=206, headers=headers)
        self.content_type = "multipart/byteranges"
        self.headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
        self._file = fobj
        self._parts = [
            (
                f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: {r.content_range(size)}\r\n\r\n".encode("latin-1"),
                r,
            )
            for r in ranges
        ]
        self._closing = f"\r\n--{boundary}--\r\n".encode("latin-1")
        self.content_length = sum(len(head) + r.length for head, r in self._parts) + len(self._closing)

    async def prepare(self, request: Any) -> AbstractStreamWriter | None:
        if self.prepared:
            return self._payload_writer
        try:
            writer = await super().prepare(request)
            if request.method == "HEAD" or writer is None:
                return writer
            for head, part in self._parts:
                await writer.write(head)
                await _copy(writer, self._file, part.first, part.length)
            await writer.write(self._closing)
            return writer
        finally:
            self._file.close()


async def _copy(writer: AbstractStreamWriter, fobj: IO[bytes], offset: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    while count > 0:
        chunk = await loop.run_in_executor(None, _read_at, fobj, offset, min(_MULTIPART_CHUNK, count))
        if not chunk:
            raise ConnectionResetError("file shrank while being sent")
        await writer.write(chunk)
        offset += len(chunk)
        count -= len(chunk)
