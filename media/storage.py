"""Where media objects live: one interface, a local folder or an S3-compatible bucket behind it.

Keys are the layout's relative paths (``originals/<track>/original.flac``, ``hls/<track>/...``,
``covers/<track>.jpg``; :mod:`media.layout`), so the same key names the same object in either store.

- :class:`LocalMediaStore` keeps objects as files under the media root (the default, one machine).
  Every write is a temp file and a rename: an object is whole or absent.
- :class:`S3MediaStore` keeps them in a bucket (``HS_MEDIA_STORE=s3://BUCKET[/PREFIX]``), through
  obstore: a Rust S3 client (the Apache Arrow ``object_store`` crate) with an asyncio API — streamed
  multipart uploads from a file, ranged and streamed reads, presigned URLs, and retries with backoff.
  It was chosen over aiobotocore (botocore's per-request Python cost, a large dependency tree) and
  minio-py (blocking only). An S3 PUT is atomic by itself: an object is whole or absent there too.

Objects are written once and replaced whole, never changed in place, which is what lets both stores
answer a range of an object with the validators (size, ETag, modification time) read before it.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from media.layout import check_relative, safe_resolve

T = TypeVar("T")

CHUNK = 256 * 1024
"""Bytes per read when streaming an object."""
PART_BYTES = 5 * 1024 * 1024
"""Part size of a multipart upload (S3's smallest allowed)."""
PUT_PARTS = 4
"""Parts of one upload in flight at once."""


class StorageError(Exception):
    """The object store failed or cannot be reached (the server answers 503)."""


class ObjectMissing(StorageError):
    """No object under that key."""


class WriteConflict(StorageError):
    """A conditional put found the object changed (or created) by another writer."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    etag: str
    """A strong validator of this version of the object, quoted as HTTP wants it."""
    modified: datetime
    """UTC, whole seconds or better."""


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where an S3 media store lives and how to sign in to it (``HS_MEDIA_STORE`` and ``HS_S3_*``)."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @classmethod
    def parse(cls, url: str, **settings: str | None) -> S3Location:
        """``s3://BUCKET[/PREFIX]`` and the connection settings; ValueError when the URL is not one."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must look like s3://BUCKET or s3://BUCKET/PREFIX")
        return cls(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint=settings.get("endpoint") or None,
            region=settings.get("region") or "us-east-1",
            access_key_id=settings.get("access_key_id") or None,
            secret_access_key=settings.get("secret_access_key") or None,
        )


class MediaStore(Protocol):
    """The operations media code needs of a store. Every method may raise :class:`StorageError`."""

    async def put_file(self, key: str, source: Path) -> StoredObject:
        """Store the file ``source`` under ``key``, replacing any object there, all or nothing."""
        ...

    async def fetch(self, key: str, dest: Path) -> StoredObject:
        """Copy the object into the local file ``dest`` (temp file + rename); ObjectMissing if none."""
        ...

    async def stat(self, key: str) -> StoredObject | None:
        """The object's size and validators, or None when there is none."""
        ...

    def read(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The object's bytes from ``start``, ``length`` of them (all when None), in chunks."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder: end it with "/")."""
        ...

    async def delete(self, keys: list[str]) -> None:
        """Remove these objects; keys with no object are no error."""
        ...

    async def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        """A small object whole with its version tag (the ETag), read in one step; None if absent."""
        ...

    async def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        """Put ``data`` only while the object is still at version ``expected`` (None: while there is
        none); :class:`WriteConflict` when another writer got there first. A compare-and-swap."""
        ...

    async def presign(self, key: str, expires_in: timedelta) -> str | None:
        """A URL anyone may GET the object by until ``expires_in`` from now; None if the store has none."""
        ...


async def delete_prefix(store: MediaStore, prefix: str) -> int:
    """Remove every object under ``prefix``; how many there were."""
    found = await store.keys(prefix)
    if found:
        await store.delete(found)
    return len(found)


class LocalMediaStore:
    """Objects as files under ``root`` (the media folder of one machine, or a shared disk)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The file of ``key``; UnsafePath when the key is not one of the layout's."""
        return safe_resolve(self.root, key)

    async def put_file(self, key: str, source: Path) -> StoredObject:
        dest = self.path(key)
        return await asyncio.to_thread(_copy_atomic, source, dest, key)

    async def fetch(self, key: str, dest: Path) -> StoredObject:
        return await asyncio.to_thread(_copy_atomic, self.path(key), dest, key)

    async def stat(self, key: str) -> StoredObject | None:
        try:
            st = await asyncio.to_thread(os.stat, self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _local_object(key, st)

    async def read(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        try:
            fobj = await asyncio.to_thread(open, self.path(key), "rb")
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectMissing(key) from exc
        with fobj:
            left = length
            offset = start
            while left is None or left > 0:
                want = CHUNK if left is None else min(CHUNK, left)
                chunk = await asyncio.to_thread(os.pread, fobj.fileno(), want, offset)
                if not chunk:
                    break
                offset += len(chunk)
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._keys, prefix)

    def _keys(self, prefix: str) -> list[str]:
        folder = prefix.rpartition("/")[0]
        base = self.path(folder) if folder else self.root
        if not base.is_dir():
            return []
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith("."):
                    continue  # temp files of writes in progress
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)

    async def delete(self, keys: list[str]) -> None:
        def remove() -> None:
            for key in keys:
                self.path(key).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        return await asyncio.to_thread(self._locked, key, self._read_current)

    async def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        def swap(path: Path) -> None:
            current = self._read_current(path)
            if (current[1] if current else None) != expected:
                raise WriteConflict(key)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            try:
                with open(tmp, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)

        await asyncio.to_thread(self._locked, key, swap)

    def _locked(self, key: str, call: Callable[[Path], T]) -> T:
        """Blocking: ``call(path)`` under the exclusive ``flock`` of the key's hidden lock file beside it
        (writers through any process or container sharing the folder take turns)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return call(path)
        finally:
            os.close(fd)

    @staticmethod
    def _read_current(path: Path) -> tuple[bytes, str] | None:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return data, '"' + hashlib.sha256(data).hexdigest() + '"'

    async def presign(self, key: str, expires_in: timedelta) -> str | None:
        return None  # local files are sent by the server (or nginx), never by a URL of their own


def _local_object(key: str, st: os.stat_result) -> StoredObject:
    return StoredObject(
        key=key,
        size=st.st_size,
        etag=f'"{st.st_mtime_ns:x}-{st.st_size:x}"',
        modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


def _copy_atomic(source: Path, dest: Path, key: str) -> StoredObject:
    """Copy ``source`` to ``dest`` through a temp file beside it and a rename. Blocking."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(source, "rb") as src, open(tmp, "wb") as out:
            while chunk := src.read(1024 * 1024):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except FileNotFoundError as exc:
        tmp.unlink(missing_ok=True)
        raise ObjectMissing(key) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _local_object(key, os.stat(dest))


class S3MediaStore:
    """Objects in an S3-compatible bucket, under ``location.prefix``."""

    def __init__(self, location: S3Location, *, timeout: float = 30.0) -> None:
        from obstore.store import S3Store

        self.location = location
        endpoint = location.endpoint
        self._store = S3Store(
            location.bucket,
            prefix=location.prefix or None,
            endpoint=endpoint,
            region=location.region,
            access_key_id=location.access_key_id,
            secret_access_key=location.secret_access_key,
            # Path-style addressing works on every S3-compatible server; AWS accepts it too.
            virtual_hosted_style_request=False,
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "connect_timeout": timedelta(seconds=min(timeout, 10.0)),
                "timeout": timedelta(seconds=timeout),
            },
        )

    async def put_file(self, key: str, source: Path) -> StoredObject:
        import obstore

        _check_key(key)
        try:
            fobj = await asyncio.to_thread(open, source, "rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        try:
            with fobj:
                # Streamed from the file in parts (multipart for big files): at most
                # PUT_PARTS x PART_BYTES in memory, whatever the file's size.
                await obstore.put_async(
                    self._store, key, fobj, chunk_size=PART_BYTES, max_concurrency=PUT_PARTS
                )
        except Exception as exc:
            raise _storage_error(exc, key) from exc
        found = await self.stat(key)
        if found is None:
            raise StorageError(f"{key} is not there after it was stored")
        return found

    async def fetch(self, key: str, dest: Path) -> StoredObject:
        found = await self.stat(key)
        if found is None:
            raise ObjectMissing(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        try:
            out = await asyncio.to_thread(open, tmp, "wb")
            with out:
                async for chunk in self.read(key):
                    await asyncio.to_thread(out.write, chunk)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return found

    async def stat(self, key: str) -> StoredObject | None:
        import obstore

        _check_key(key)
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            _missing_or_raise(exc, key)
            return None
        etag = meta.get("e_tag") or hashlib.sha256(f"{key}:{meta['last_modified']}".encode()).hexdigest()
        return StoredObject(
            key=key,
            size=int(meta["size"]),
            etag=etag if etag.startswith('"') else f'"{etag}"',
            modified=meta["last_modified"],
        )

    async def read(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        import obstore

        _check_key(key)
        try:
            if start == 0 and length is None:
                result = await obstore.get_async(self._store, key)
                async for chunk in result.stream(min_chunk_size=CHUNK):
                    yield bytes(chunk)
                return
            if length == 0:
                return
            end = None if length is None else start + length
            if end is None:
                found = await self.stat(key)
                if found is None:
                    raise ObjectMissing(key)
                end = found.size
            offset = start
            while offset < end:
                step = min(CHUNK * 4, end - offset)
                yield bytes(await obstore.get_range_async(self._store, key, start=offset, length=step))
                offset += step
        except StorageError:
            raise
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        except Exception as exc:
            raise _storage_error(exc, key) from exc

    async def keys(self, prefix: str) -> list[str]:
        import obstore

        try:
            out: list[str] = []
            async for batch in obstore.list(self._store, prefix or None):
                out.extend(meta["path"] for meta in batch)
        except Exception as exc:
            raise _storage_error(exc, prefix) from exc
        # The store lists whole path segments; a prefix ending mid-name is filtered here.
        return sorted(k for k in out if k.startswith(prefix))

    async def delete(self, keys: list[str]) -> None:
        import obstore

        if not keys:
            return
        try:
            await obstore.delete_async(self._store, keys)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise _storage_error(exc, keys[0]) from exc

    async def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        import obstore

        _check_key(key)
        try:
            result = await obstore.get_async(self._store, key)
            data = bytes(await result.bytes_async())
        except FileNotFoundError:
            return None
        except Exception as exc:
            _missing_or_raise(exc, key)
            return None
        etag = result.meta.get("e_tag")
        if not etag:
            raise StorageError(f"the bucket gave no ETag for {key}")
        return data, etag

    async def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        _check_key(key)
        # S3 conditional writes: If-None-Match: * to create, If-Match: <ETag> to replace.
        mode: Any = "create" if expected is None else {"e_tag": expected}
        try:
            await obstore.put_async(self._store, key, data, mode=mode)
        except (AlreadyExistsError, PreconditionError) as exc:
            raise WriteConflict(key) from exc
        except FileNotFoundError as exc:  # If-Match on an object deleted meanwhile
            raise WriteConflict(key) from exc
        except Exception as exc:
            error = _storage_error(exc, key)
            if isinstance(error, ObjectMissing):
                raise WriteConflict(key) from exc
            raise error from exc

    async def presign(self, key: str, expires_in: timedelta) -> str | None:
        import obstore

        _check_key(key)
        try:
            return str(await obstore.sign_async(self._store, "GET", key, expires_in))
        except Exception as exc:
            raise _storage_error(exc, key) from exc


def _check_key(key: str) -> None:
    """UnsafePath unless ``key`` is one the layout makes (no "..", no leading "/", no hidden names):
    the local store's rule, so a key means the same in both."""
    check_relative(key)


def _missing_or_raise(exc: Exception, key: str) -> None:
    """Return when ``exc`` says the object is not there; raise it as the store's error otherwise."""
    error = _storage_error(exc, key)
    if not isinstance(error, ObjectMissing):
        raise error from exc


def _storage_error(exc: Exception, key: str) -> StorageError:
    from obstore.exceptions import NotFoundError

    if isinstance(exc, NotFoundError | FileNotFoundError):
        return ObjectMissing(key)
    return StorageError(f"object store: {type(exc).__name__}: {exc}"[:500])


async def remove_track_objects(store: MediaStore, track_id: str) -> None:
    """Delete every object of a track: its original, its ladder (every version) and its cover."""
    for prefix in (f"originals/{track_id}/", f"hls/{track_id}/", f"covers/{track_id}.jpg"):
        await delete_prefix(store, prefix)


def open_media_store(local_root: Path, location: S3Location | None, *, timeout: float = 30.0) -> MediaStore:
    """The media store a process is configured for: the bucket when there is one, else the local folder."""
    if location is None:
        return LocalMediaStore(local_root)
    return S3MediaStore(location, timeout=timeout)
