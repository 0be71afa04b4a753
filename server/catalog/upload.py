"""Receiving an upload: the multipart body streamed to a temp file, size-capped, hashed on the way.

The app's ``client_max_size`` (1 MB, for JSON) does not apply here: the route reads the multipart
stream itself, so the cap is ours (``HS_MAX_UPLOAD_MB`` → 413) and the body is never held in memory.
Chunks are gathered into ~1 MiB buffers that are written and hashed in a worker thread, so a slow
disk never stalls the event loop. Whatever goes wrong (too large, bad form, a client that hangs up
mid-way) the temp file is removed before the error leaves this module.

A live temp file is held under an exclusive ``flock`` by the process receiving it, until it is moved
away or discarded. The kernel drops the lock when that process dies (even by SIGKILL), so the sweep at
every process start (:func:`sweep_stale_uploads`) removes exactly the temp files nobody owns any more,
whatever their age, and never one that another live process on this machine is still receiving.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from server.errors import Invalid, TooLarge, UnsupportedMedia

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"title", "artist", "album", "genre", "release_year", "track_no", "allow_duplicate"})
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
    """An upload on disk in the temp dir. The caller moves ``path`` away, then calls :meth:`discard`
    (which also releases the ownership lock)."""

    path: Path
    size: int
    sha256: str
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)
    handle: IO[bytes] | None = None
    """The open, ``flock``-ed temp file: held while the upload lives (see the module docstring)."""

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def open_temp(tmp_dir: Path, tag: str = "") -> tuple[Path, IO[bytes]]:
    """A new, exclusively created and ``flock``-ed temp file in ``tmp_dir``. Blocking."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"{TEMP_PREFIX}{tag}{uuid.uuid4().hex}{TEMP_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return path, os.fdopen(fd, "wb")


async def receive_upload(request: web.Request, tmp_dir: Path, max_bytes: int) -> ReceivedUpload:
    """Stream the ``file`` part of a multipart/form-data request to ``tmp_dir``; collect text fields."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMedia("Send the upload as multipart/form-data with a 'file' field.")
    declared = request.content_length
    if declared is not None and declared > max_bytes + FORM_OVERHEAD:
        raise _too_large(max_bytes)
    path, handle = await asyncio.to_thread(open_temp, tmp_dir)
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
                received = await _stream_to_file(part, handle, max_bytes)
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
    except (BadHttpMessage, ValueError) as exc:
        # A part header aiohttp's parser refuses (a control character in a name, say): the client's
        # malformed body, not our failure.
        path.unlink(missing_ok=True)
        raise Invalid(
            "The multipart body is malformed.", code="invalid_form", details={"reason": str(exc)[:200]}
        ) from exc
    except BaseException:
        # Includes a client that hung up (ClientPayloadError, ConnectionResetError) and cancellation.
        path.unlink(missing_ok=True)
        handle.close()
        raise
    size, digest = received
    return ReceivedUpload(
        path=path, size=size, sha256=digest, filename=filename, fields=fields, handle=handle
    )


async def _stream_to_file(part: BodyPartReader, fh: IO[bytes], max_bytes: int) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray()
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
    # Flushed, not closed: the open handle keeps the ownership lock until the upload is discarded.
    await asyncio.to_thread(fh.flush)
    return size, hasher.hexdigest()


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


def sweep_stale_uploads(tmp_dir: Path) -> int:
    """Remove temp uploads no live process owns (their receiver died); returns how many. Blocking.

    Ownership is the ``flock`` of :func:`open_temp`: a file whose lock can be taken has no owner.
    """
    removed = 0
    try:
        entries = list(os.scandir(tmp_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX)):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # gone meanwhile, or not a plain file of ours
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live upload
        else:
            os.unlink(entry.path)
            removed += 1
        finally:
            os.close(fd)
    return removed
