"""Answer a GET or HEAD for an object of the media store: the same RFC 9110 rules as for a file.

:mod:`server.delivery.files` answers local files (sendfile, the segment lane). This module answers an
object of any :class:`media.storage.MediaStore` — an S3 bucket in particular — with the same
validators, preconditions (§13.2.2 order) and byte ranges (:mod:`server.delivery.ranges`), streaming
the bytes through: a player needs no credentials of the store. Or, with ``redirect``, a 302 to a
presigned URL of the store that expires no later than the caller's own signed URL.

Objects are replaced whole and never changed in place (media/storage.py), so the size and ETag read
before the body describe the bytes sent; several ranges are answered whole (§14.2 allows it).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from media.storage import MediaStore, ObjectMissing, StorageError, StoredObject
from server.delivery.files import FilePolicy, Validators, plan_streamed
from server.errors import NotFound, ServiceUnavailable

REDIRECT_MIN_SECONDS = 1
"""A presigned URL lives at least this long (S3 refuses zero); shorter-lived grants get no redirect."""


def validators_of(found: StoredObject) -> Validators:
    return Validators(found.etag, int(found.modified.timestamp()))


async def send_object(
    request: web.Request,
    store: MediaStore,
    key: str,
    policy: FilePolicy,
    *,
    redirect_until: float | None = None,
) -> web.StreamResponse:
    """The answer for the object ``key``: NotFound if there is none, 503 if the store is down.

    ``redirect_until`` (a Unix time, the caller's grant expiry): answer with a 302 to a presigned URL
    of the store valid until then at the latest, instead of passing the bytes through.
    """
    try:
        found = await store.stat(key)
    except StorageError as exc:
        raise ServiceUnavailable("object_store") from exc
    if found is None:
        raise NotFound("No such file.")
    if redirect_until is not None:
        seconds = int(redirect_until - time.time())
        if seconds >= REDIRECT_MIN_SECONDS:
            try:
                url = await store.presign(key, timedelta(seconds=seconds))
            except StorageError as exc:
                raise ServiceUnavailable("object_store") from exc
            if url is not None:
                headers = {"Location": url, "Cache-Control": f"private, max-age={max(0, seconds - 1)}"}
                return web.Response(status=302, headers={**policy.headers, **headers})
    span = plan_streamed(request, validators_of(found), found.size, policy)
    if isinstance(span, web.Response):
        return span
    return ObjectBody(store, key, span.offset, span.count, status=span.status, headers=span.headers)


class ObjectBody(web.StreamResponse):
    """``count`` bytes of a stored object from ``offset``, streamed as the store hands them over."""

    def __init__(
        self, store: MediaStore, key: str, offset: int, count: int, *, status: int, headers: dict[str, str]
    ) -> None:
        super().__init__(status=status, headers=headers)
        self._store = store
        self._key = key
        self._offset = offset
        self._count = count
        self.content_length = count

    async def prepare(self, request: Any) -> AbstractStreamWriter | None:
        if self.prepared:
            return self._payload_writer
        writer = await super().prepare(request)
        if request.method == "HEAD" or writer is None or self._count == 0:
            return writer
        sent = 0
        try:
            async for chunk in self._store.read(self._key, self._offset, self._count):
                await writer.write(chunk)
                sent += len(chunk)
        except (ObjectMissing, StorageError) as exc:
            # The status line is out: all that is left is to cut the connection short.
            raise ConnectionResetError(f"object store failed mid-answer: {exc}") from exc
        if sent != self._count:
            raise ConnectionResetError("the object changed while being sent")
        return writer
