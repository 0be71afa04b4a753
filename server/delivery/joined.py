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
from media.layout import HLS_DIR, INIT_SEGMENT, MASTER_PLAYLIST, MEDIA_PLAYLIST, SAFE_COMPONENT_RE
from media.playlists import MediaPlaylist, parse_master_playlist, parse_media_playlist, read_media_playlist
from media.storage import MediaStore, ObjectMissing, StorageError
from server.delivery.files import FilePolicy, Validators, open_regular, plan_streamed, send_file_range
from server.errors import NotFound


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
    first, elapsed = _first_segment(playlist, start_seconds)
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


async def join_stored_rendition(
    store: MediaStore, track_id: str, rung: str, start_seconds: float = 0.0
) -> JoinedFile:
    """:func:`join_rendition` for a ladder in a bucket: the pieces are keys of ``store``, found through
    the master playlist (which names the ladder's current version)."""
    if not (SAFE_COMPONENT_RE.fullmatch(track_id) and SAFE_COMPONENT_RE.fullmatch(rung)):
        raise NotFound("No such rendition.")
    base = f"{HLS_DIR}/{track_id}/"
    try:
        master = parse_master_playlist(await _read_text(store, base + MASTER_PLAYLIST))
        folders = [v.uri.rsplit("/", 1)[0] for v in master.variants]
        folder = next(f for f in folders if f.rsplit("/", 1)[-1] == rung)
        listed = await store.stat(f"{base}{folder}/{MEDIA_PLAYLIST}")
        playlist = parse_media_playlist(await _read_text(store, f"{base}{folder}/{MEDIA_PLAYLIST}"))
    except (StopIteration, PlaylistError, ObjectMissing) as exc:
        raise NotFound("No such rendition.") from exc
    if listed is None:
        raise NotFound("No such rendition.")
    first, elapsed = _first_segment(playlist, start_seconds)
    chosen = playlist.segments[first:]
    names = [playlist.map_uri or INIT_SEGMENT, *(s.uri for s in chosen)]
    if not all(SAFE_COMPONENT_RE.fullmatch(name) for name in names):
        raise NotFound("No such rendition.")
    found = await asyncio.gather(*(store.stat(f"{base}{folder}/{name}") for name in names))
    if any(f is None for f in found):
        raise NotFound("No such rendition.")
    tag = hashlib.blake2b(f"{listed.etag}:{rung}:{first}".encode(), digest_size=9).hexdigest()
    return JoinedFile(
        pieces=tuple(Piece(f.key, f.size) for f in found if f is not None),
        validators=Validators(f'"{tag}"', int(listed.modified.timestamp())),
        start_seconds=elapsed,
        duration=sum(seg.duration for seg in chosen),
    )


def _first_segment(playlist: MediaPlaylist, start_seconds: float) -> tuple[int, float]:
    """The index of the segment holding ``start_seconds`` (past the end: one past the last), and its start."""
    elapsed = 0.0
    for index, segment in enumerate(playlist.segments):
        if elapsed + segment.duration > start_seconds:
            return index, elapsed
        elapsed += segment.duration
    return len(playlist.segments), elapsed


async def _read_text(store: MediaStore, key: str) -> str:
    return b"".join([chunk async for chunk in store.read(key)]).decode()


async def send_joined(
    request: web.Request,
    joined: JoinedFile,
    policy: FilePolicy,
    *,
    confine_to: str,
    store: MediaStore | None = None,
) -> web.StreamResponse:
    """The answer to a GET or HEAD for ``joined``: preconditions, one byte range, or the whole file."""
    span = plan_streamed(request, joined.validators, joined.size, policy)
    if isinstance(span, web.Response):
        return span
    return JoinedBody(
        joined.pieces,
        span.offset,
        span.count,
        confine_to,
        status=span.status,
        headers=span.headers,
        store=store,
    )


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
        store: MediaStore | None = None,
    ) -> None:
        super().__init__(status=status, headers=headers)
        self._store = store
        """Pieces are keys of this store; None: they are local files."""
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
        start, remaining = self._offset, self._count
        for piece in self._pieces:
            if remaining <= 0:
                break
            if start >= piece.size:
                start -= piece.size
                continue
            length = min(piece.size - start, remaining)
            if self._store is not None:
                try:
                    async for chunk in self._store.read(piece.path, start, length):
                        await writer.write(chunk)
                except StorageError as exc:
                    raise ConnectionResetError(f"object store failed mid-answer: {exc}") from exc
                remaining -= length
                start = 0
                continue
            fobj, st = open_regular(piece.path, self._confine)
            with fobj:
                if st.st_size != piece.size:
                    # Replaced by a new transcode since the headers went out: the bytes would not fit.
                    raise ConnectionResetError("a rendition changed while being sent")
                await send_file_range(request, writer, fobj, start, length)
            remaining -= length
            start = 0
        return writer
