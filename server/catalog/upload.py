"""Receiving an upload: the multipart body streamed to a temp file, size-capped, hashed on the way.

The app's ``client_max_size`` (1 MB, for JSON) does not apply here: the route reads the multipart
stream itself, so the cap is ours (``HS_MAX_UPLOAD_MB`` → 413) and the body is never held in memory.
Chunks are gathered into ~1 MiB buffers that are written and hashed in a worker thread, so a slow
disk never stalls the event loop. Whatever goes wrong (too large, bad form, a client that hangs up
mid-way) the temp file is removed before the error leaves this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aiohttp import BodyPartReader, web

from server.errors import Invalid, TooLarge, UnsupportedMedia

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"title", "artist", "album", "genre", "release_year", "track_no"})
TEXT_FIELD_MAX = 4096
"""Bytes one text field may hold (names are capped far shorter later; this bounds memory)."""
FORM_OVERHEAD = 64 * 1024
"""Bytes a form may add to the file (boundaries, part headers, text fields)."""
READ_CHUNK = 256 * 1024
WRITE_BUFFER = 1024 * 1024
TEMP_PREFIX = "upload-"
TEMP_SUFFIX = ".part"


@dataclass(slots=True)
class ReceivedUpload:
    """An upload on disk in the temp dir. The caller moves ``path`` away or calls :meth:`discard`."""

    path: Path
    size: int
    sha256: str
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


async def receive_upload(request: web.Request, tmp_dir: Path, max_bytes: int) -> ReceivedUpload:
    """Stream the ``file`` part of a multipart/form-data request to ``tmp_dir``; collect text fields."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMedia("Send the upload as multipart/form-data with a 'file' field.")
    declared = request.content_length
    if declared is not None and declared > max_bytes + FORM_OVERHEAD:
        raise _too_large(max_bytes)
    await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
    path = tmp_dir / f"{TEMP_PREFIX}{uuid.uuid4().hex}{TEMP_SUFFIX}"
    fields: dict[str, str] = {}
    received: tuple[int, str] | None = None
    filename: str | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise Invalid("Nested multipart bodies are not accepted.", code="invalid_form")
            name = part.name or ""
            if name == FILE_FIELD:
                if received is not None:
                    raise Invalid(
                        "Send exactly one file.",
                        code="invalid_form",
                        details={"fields": {"file": "more than one file"}},
                    )
                filename = part.filename
                received = await _stream_to_file(part, path, max_bytes)
            elif name in TEXT_FIELDS:
                fields[name] = await _read_text(part)
            else:
                raise Invalid(details={"fields": {name or "(unnamed)": "Extra inputs are not permitted"}})
        if received is None:
            raise Invalid(
                "The form has no 'file' field.",
                code="invalid_form",
                details={"fields": {"file": "Field required"}},
            )
    except BaseException:
        # Includes a client that hung up (ClientPayloadError, ConnectionResetError) and cancellation.
        path.unlink(missing_ok=True)
        raise
    size, digest = received
    return ReceivedUpload(path=path, size=size, sha256=digest, filename=filename, fields=fields)


async def _stream_to_file(part: BodyPartReader, path: Path, max_bytes: int) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray()
    fh: IO[bytes] = await asyncio.to_thread(_open_exclusive, path)
    try:
        while chunk := await part.read_chunk(READ_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER:
                await asyncio.to_thread(_write, fh, hasher, bytes(buffer))
                buffer.clear()
        if buffer:
            await asyncio.to_thread(_write, fh, hasher, bytes(buffer))
    finally:
        await asyncio.to_thread(fh.close)
    return size, hasher.hexdigest()


def _open_exclusive(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _write(fh: IO[bytes], hasher: hashlib._Hash, data: bytes) -> None:
    # hashlib releases the GIL on large buffers, so hashing here costs the loop nothing.
    hasher.update(data)
    fh.write(data)


async def _read_text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(TEXT_FIELD_MAX):
        data += chunk
        if len(data) > TEXT_FIELD_MAX:
            raise Invalid(details={"fields": {part.name or "": f"longer than {TEXT_FIELD_MAX} bytes"}})
    try:
        return data.decode(part.get_charset("utf-8"))
    except (LookupError, UnicodeDecodeError) as exc:
        raise Invalid(details={"fields": {part.name or "": "not valid text"}}) from exc


def _too_large(max_bytes: int) -> TooLarge:
    mb = max_bytes // (1024 * 1024)
    return TooLarge(f"The file is larger than the {mb} MB upload limit.", details={"max_bytes": max_bytes})


def sweep_stale_uploads(tmp_dir: Path, older_than_s: float) -> int:
    """Remove temp uploads left by a process that died mid-upload; returns how many. Blocking."""
    import time

    removed = 0
    cutoff = time.time() - older_than_s
    try:
        entries = list(os.scandir(tmp_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
    return removed
