"""One rung of a track's ladder answered as a single progressive file: its init segment, then its segments.

A fragmented MP4 is a ``moov`` (``init.mp4``) followed by ``moof`` + ``mdat`` pairs (the ``.m4s``
segments), so laid end to end they are a valid file that any MP4 demuxer plays from the start. This is
how an app that asks for a bitrate or a format gets a rendition without a transcode at request time:
the length is known before the first byte (an exact ``Content-Length``), byte ranges span the pieces,
and validators make ``If-Range`` resumes safe.

A start time picks the segment that contains it (segments are ~6 s long; see :mod:`media.ladder`), the
init segment first. Each fragment's ``tfdt`` keeps its place on the track's timeline, so a player shows
the position it asked for, to within a segment.

Several ranges in one request are answered with the whole file (RFC 9110 §14.2 lets a server ignore
Range); players ask for one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from media.errors import PlaylistError
from media.layout import HLS_DIR, INIT_SEGMENT, MEDIA_PLAYLIST, SAFE_COMPONENT_RE
from media.playlists import read_media_playlist
from server.delivery.files import (
    FilePolicy,
    Validators,
    evaluate_preconditions,
    if_range_allows,
    open_regular,
)
from server.delivery.ranges import decide_range, unsatisfied_content_range
from server.errors import NotFound, PreconditionFailed, RangeNotSatisfiable


@dataclass(frozen=True, slots=True)
class Piece:
    path: str
    size: int


@dataclass(frozen=True, slots=True)
class JoinedFile:
    """The pieces of one answer, in order, and what they add up to."""

    pieces: tuple[Piece, ...]
    validators: Validators
    start_seconds: float
    """Where on the track's timeline the first segment starts."""
    duration: float
    """Seconds of audio from ``start_seconds`` to the end."""

    @property
    def size(self) -> int:
        return sum(p.size for p in self.pieces)


def join_rendition(root: str, track_id: str, rung: str, start_seconds: float = 0.0) -> JoinedFile:
    """The pieces of ``rung`` of ``track_id`` under the media ``root`` (real, ending in "/"). Blocking.

    NotFound when the rung is not there or its playlist names anything but its own files. A start at
    or past the end leaves the init segment alone: a valid file with nothing to play.
    """
    if not (SAFE_COMPONENT_RE.fullmatch(track_id) and SAFE_COMPONENT_RE.fullmatch(rung)):
        raise NotFound("No such rendition.")
    folder = f"{root}{HLS_DIR}/{track_id}/{rung}/"
    try:
        playlist_stat = os.stat(folder + MEDIA_PLAYLIST)
        playlist = read_media_playlist(Path(folder + MEDIA_PLAYLIST))
    except (OSError, PlaylistError) as exc:
        raise NotFound("No such rendition.") from exc
    elapsed = 0.0
    first = len(playlist.segments)
    for index, segment in enumerate(playlist.segments):
        if elapsed + segment.duration > start_seconds:
            first = index
            break
        elapsed += segment.duration
    chosen = playlist.segments[first:]
    names = [playlist.map_uri or INIT_SEGMENT, *(s.uri for s in chosen)]
    if not all(SAFE_COMPONENT_RE.fullmatch(name) for name in names):
        raise NotFound("No such rendition.")
    try:
        pieces = tuple(Piece(folder + name, os.stat(folder + name).st_size) for name in names)
    except OSError as exc:
        raise NotFound("No such rendition.") from exc
    # The rung changes only by a new transcode, which rewrites its playlist: that file's identity,
    # the rung and the first segment name this representation.
    tag = hashlib.blake2b(
        f"{playlist_stat.st_mtime_ns}:{playlist_stat.st_size}:{rung}:{first}".encode(), digest_size=9
    ).hexdigest()
    return JoinedFile(
        pieces=pieces,
        validators=Validators(f'"{tag}"', int(playlist_stat.st_mtime)),
        start_seconds=elapsed,
        duration=sum(s.duration for s in chosen),
    )


async def send_joined(
    request: web.Request, joined: JoinedFile, policy: FilePolicy, *, confine_to: str
) -> web.StreamResponse:
    """The answer to a GET or HEAD for ``joined``: preconditions, one byte range, or the whole file."""
    validators = joined.validators
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
    size = joined.size
    range_header = request.headers.get("Range")
    if request.method != "GET" or not if_range_allows(request.headers.get("If-Range"), validators):
        range_header = None
    decision = decide_range(range_header, size)
    if not decision.satisfiable:
        raise RangeNotSatisfiable(
            details={"size": size},
            headers={**policy.headers, "Content-Range": unsatisfied_content_range(size)},
        )
    if decision.whole or len(decision.ranges) > 1:
        return JoinedBody(joined.pieces, 0, size, confine_to, status=200, headers=headers)
    part = decision.ranges[0]
    headers["Content-Range"] = part.content_range(size)
    return JoinedBody(joined.pieces, part.first, part.length, confine_to, status=206, headers=headers)


class JoinedBody(web.StreamResponse):
    """``count`` bytes of the pieces laid end to end, from ``offset``, each piece sent with sendfile(2)."""

    def __init__(
        self,
        pieces: tuple[Piece, ...],
        offset: int,
        count: int,
        confine_to: str,
        *,
        status: int,
        headers: dict[str, str],
    ) -> None:
        super().__init__(status=status, headers=headers)
        self._pieces = pieces
        self._offset = offset
        self._count = count
        self._confine = confine_to
        self.content_length = count

    async def prepare(self, request: Any) -> AbstractStreamWriter | None:
        if self.prepared:
            return self._payload_writer
        writer = await super().prepare(request)
        if request.method == "HEAD" or writer is None:
            return writer
        loop = asyncio.get_running_loop()
        start, remaining = self._offset, self._count
        for piece in self._pieces:
            if remaining <= 0:
                break
            if start >= piece.size:
                start -= piece.size
                continue
            length = min(piece.size - start, remaining)
            fobj, st = open_regular(piece.path, self._confine)
            with fobj:
                if st.st_size != piece.size:
                    # Replaced by a new transcode since the headers went out: the bytes would not fit.
                    raise ConnectionResetError("a rendition changed while being sent")
                await writer.drain()
                transport = request.transport
                if transport is None:
                    raise ConnectionResetError("Connection lost")
                try:
                    await loop.sendfile(transport, fobj, start, length)
                except NotImplementedError:  # TLS transports: plain writes
                    await writer.write(os.pread(fobj.fileno(), length, start))
            remaining -= length
            start = 0
        return writer
