"""Uploading a track's cover: a JPEG or PNG, at most ``MAX_COVER_BYTES``, stored as ``covers/<id>.jpg``.

The body is either multipart/form-data with a ``file`` field (what the web app sends) or the raw
image with its own Content-Type. What it holds is decided by its first bytes, never by the declared
type. A JPEG is stored as sent (so a download gives back the same bytes); a PNG is re-encoded to a
JPEG of at most 1200 px by the same ffmpeg step that extracts embedded covers, since covers are
served as JPEG only. The stored file is replaced atomically (:meth:`MediaLayout.install_cover`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import IO

from aiohttp import web

from media.errors import MediaError
from media.ffmpeg import extract_cover
from media.records import Track
from media.tags import sniff_image
from server.auth.service import Principal
from server.catalog.service import CatalogService
from server.catalog.upload import FILE_FIELD, ReceivedUpload, open_temp, receive_upload
from server.delivery.files import FilePolicy
from server.delivery.objects import send_object
from server.errors import Invalid, NotFound, TooLarge, UnsupportedMedia

MAX_COVER_BYTES = 10 * 1024 * 1024
ACCEPTED = frozenset({"image/jpeg", "image/png"})
_CHUNK = 256 * 1024


async def receive_cover(request: web.Request, tmp_dir: Path) -> ReceivedUpload:
    """The uploaded image in a temp file (the caller discards it); 413 over the cap, 415 for others."""
    if request.content_type == "multipart/form-data":
        received: ReceivedUpload = await receive_upload(request, tmp_dir, MAX_COVER_BYTES)
        if received.fields:
            received.discard()
            raise Invalid(details={"fields": {k: "Extra inputs are not permitted" for k in received.fields}})
        return received
    if request.content_type not in ACCEPTED:
        raise UnsupportedMedia(
            f"Send the cover as multipart/form-data with a '{FILE_FIELD}' field, "
            "or as image/jpeg or image/png."
        )
    if request.content_length is not None and request.content_length > MAX_COVER_BYTES:
        raise _too_large()
    data = bytearray()
    while chunk := await request.content.read(_CHUNK):
        data += chunk
        if len(data) > MAX_COVER_BYTES:
            raise _too_large()
    # A temp upload like any other, so the sweep of orphaned uploads also removes one left by a crash.
    path, handle = await asyncio.to_thread(open_temp, tmp_dir, "cover-")
    try:
        await asyncio.to_thread(_write_all, handle, bytes(data))
    except BaseException:
        path.unlink(missing_ok=True)
        handle.close()
        raise
    return ReceivedUpload(path=path, size=len(data), sha256="", filename=None, handle=handle)


def _write_all(handle: IO[bytes], data: bytes) -> None:
    handle.write(data)
    handle.flush()


async def track_for_cover(catalog: CatalogService, principal: Principal, track_id: str) -> Track:
    """The track if ``principal`` may change its cover (its uploader or an admin); checked before the
    body is read, so a refused caller never makes us receive 10 MB."""
    track = await catalog.visible_track(principal, track_id)
    catalog.check_track_owner(principal, track)
    return track


async def set_cover(catalog: CatalogService, track: Track, image: Path) -> Track:
    """Make ``image`` the cover of ``track``; the updated track."""
    head = await asyncio.to_thread(_head, image)
    kind = sniff_image(head)
    if kind not in ACCEPTED:
        raise UnsupportedMedia("The cover must be a JPEG or PNG image.", details={"detected": kind})
    source = image
    if kind != "image/jpeg":
        source = image.with_name(image.name + ".jpg")
        try:
            await extract_cover(image, source)
        except MediaError as exc:
            await asyncio.to_thread(source.unlink, missing_ok=True)
            raise UnsupportedMedia("The image could not be read.", code="bad_image") from exc
    try:
        if catalog.bucket is not None:
            key = catalog.layout.relative(catalog.layout.cover_path(track.id))
            await catalog.bucket.put_file(key, source)
        else:
            key = catalog.layout.relative(
                await asyncio.to_thread(catalog.layout.install_cover, track.id, source)
            )
    finally:
        if source != image:
            await asyncio.to_thread(source.unlink, missing_ok=True)
    return await catalog.set_track(track.id, {"cover": key})


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(16)


def _too_large() -> TooLarge:
    return TooLarge("The cover is larger than 10 MB.", details={"max_bytes": MAX_COVER_BYTES})


COVER_POLICY = FilePolicy("image/jpeg", "private, max-age=3600")


async def cover_answer(request: web.Request, catalog: CatalogService, track: Track) -> web.StreamResponse:
    """The track's cover as the API and the Subsonic API send it, from the bucket or the media folder."""
    if catalog.bucket is not None:
        if not track.cover or not track.cover.endswith((".jpg", ".jpeg")):
            raise NotFound("This track has no cover.")
        return await send_object(request, catalog.bucket, track.cover, COVER_POLICY)
    return cover_response(catalog.cover_file(track))


def cover_response(path: Path) -> web.FileResponse:
    """A cover file as the API and the Subsonic API send it."""
    return web.FileResponse(
        path, headers={"Content-Type": COVER_POLICY.content_type, "Cache-Control": COVER_POLICY.cache_control}
    )
