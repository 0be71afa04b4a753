"""From a received upload to a ``processing`` track with a queued transcode.

ffprobe must find audio (else 415 or 422 with its reason) → tags read with mutagen → form fields win
over tags, names cleaned → artist and album found or created → the original moved into the media store
under the track id (the user's file name never becomes a path) → track saved → job enqueued.
If any step after the move fails, the track and its files are removed again, with the artist and album
the upload created: nothing is orphaned. The same file (by SHA-256) uploaded again by the same user is
refused with 409 ``duplicate_upload`` naming the existing track, unless the form says
``allow_duplicate=true``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from media.ffmpeg import ProbeResult, probe
from media.records import Track
from media.tags import Tags, read_tags_async
from server.api import validate
from server.auth.service import Principal
from server.catalog.formats import MIME_TYPES
from server.catalog.names import (
    GENRE_MAX,
    NAME_MAX,
    TITLE_MAX,
    UNTITLED,
    clean_name,
    title_from_filename,
)
from server.catalog.schemas import UploadFields
from server.catalog.service import CatalogService
from server.catalog.upload import ReceivedUpload
from server.documents import new_id
from server.errors import Conflict, Unprocessable

log = structlog.get_logger("harmonystream.ingest")

Enqueue = Callable[[str], Awaitable[Any]]


def pick(form: str | None, tag: str | None, max_len: int) -> str | None:
    """A form field wins over the file's tag; both are cleaned the same way."""
    return form or clean_name(tag, max_len)


class IngestService:
    def __init__(self, catalog: CatalogService, enqueue: Callable[[], Enqueue | None]) -> None:
        self._catalog = catalog
        # Looked up per upload: the job queue is wired after this service, and may be absent.
        self._enqueue = enqueue

    async def ingest(self, principal: Principal, upload: ReceivedUpload) -> Track:
        """Turn ``upload`` into a processing track; the temp file is consumed either way."""
        try:
            form = validate(UploadFields, {k: v for k, v in upload.fields.items() if v.strip()})
            if upload.size == 0:
                raise Unprocessable("The file is empty.", code="empty_file", details={"reason": "empty file"})
            if not form.allow_duplicate:
                await self._refuse_duplicate(principal, upload.sha256)
            # A refusal is a MediaError; server.errors.SHARED_ERRORS says what each kind answers.
            probed = await probe(upload.path)
            tags = await read_tags_async(upload.path)
            track_id = new_id()
            dest = self._catalog.layout.original_path(track_id, probed.suggested_extension())
            bucket = self._catalog.bucket
            if bucket is not None:
                # Streamed into the bucket in parts, under the key the layout gives the file.
                await bucket.put_file(self._catalog.layout.relative(dest), upload.path)
            else:
                await asyncio.to_thread(_move, upload.path, dest)
        finally:
            upload.discard()
        created: list[tuple[str, str]] = []
        try:
            fields = await self._fields(principal, form, tags, probed, upload.filename, created)
            track = await self._catalog.tracks.insert(
                {
                    "_id": track_id,
                    **fields,
                    "owner_id": principal.user_id,
                    "status": "processing",
                    "original": {
                        "path": self._catalog.layout.relative(dest),
                        "format": probed.format_name,
                        "codec": probed.codec,
                        "mime": MIME_TYPES.get(dest.suffix[1:], "application/octet-stream"),
                        "size": upload.size,
                        "sha256": upload.sha256,
                        "source": "upload",
                    },
                }
            )
        except BaseException:
            await self._catalog.remove_media(track_id)
            await self._forget(created)
            raise
        try:
            await self._start(track_id)
        except BaseException:
            await self._forget(created)
            raise
        if tags.lyrics is not None and self._catalog.lyrics is not None:
            await self._catalog.lyrics.put(track_id, tags.lyrics)
        for kind, created_id in created:
            await self._catalog.announce_created(kind, created_id)
        await self._catalog.library("track", track_id, "created")
        await self._catalog.track_status(track)
        return track

    async def _refuse_duplicate(self, principal: Principal, sha256: str) -> None:
        existing = await self._catalog.tracks.find_upload(principal.user_id, sha256)
        if existing is not None:
            raise Conflict(
                "You uploaded this file already. Send allow_duplicate=true to upload it again.",
                code="duplicate_upload",
                details={"track_id": existing.id, "sha256": sha256},
            )

    async def _forget(self, created: list[tuple[str, str]]) -> None:
        # Album before artist: an artist with an album is not removed.
        for kind, doc_id in reversed(created):
            await self._catalog.forget_created(kind, doc_id)

    async def _fields(
        self,
        principal: Principal,
        form: UploadFields,
        tags: Tags,
        probed: ProbeResult,
        filename: str | None,
        created: list[tuple[str, str]],
    ) -> dict[str, Any]:
        """The track's fields; every artist or album made on the way is appended to ``created``."""
        artist_name = pick(form.artist, tags.artist, NAME_MAX) or clean_name(tags.album_artist, NAME_MAX)
        artist, new_artist = await self._catalog.publishing_artist(principal, artist_name)
        if new_artist:
            created.append(("artist", artist.id))
        year = form.release_year or tags.year
        album_title = pick(form.album, tags.album, TITLE_MAX)
        album = None
        if album_title:
            album, new_album = await self._catalog.resolve_album(
                album_title, artist.id, year, principal.user_id
            )
            if new_album:
                created.append(("album", album.id))
        return {
            "title": pick(form.title, tags.title, TITLE_MAX) or title_from_filename(filename) or UNTITLED,
            "artist_id": artist.id,
            "album_id": album.id if album else None,
            "genre": pick(form.genre, tags.genre, GENRE_MAX),
            "release_year": year,
            "track_no": form.track_no or tags.track_no,
            "duration_ms": probed.duration_ms,
        }

    async def _start(self, track_id: str) -> None:
        """Queue the transcode. If the queue refuses, undo the upload rather than leave a stuck track."""
        enqueue = self._enqueue()
        if enqueue is None:
            # No queue wired in this process: the track stays processing and is picked up by the
            # start-up sweep of tracks left processing without a job.
            log.warning("no_job_queue", track_id=track_id)
            return
        try:
            await enqueue(track_id)
        except BaseException:
            await self._catalog.tracks.delete(track_id)
            await self._catalog.remove_media(track_id)
            raise


def _move(source: os.PathLike[str], dest: os.PathLike[str]) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    # Same filesystem (tmp and media both live under the data dir), so this is a rename, not a copy.
    shutil.move(source, dest)
