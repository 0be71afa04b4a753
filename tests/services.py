"""Real backing services for the tests: a private redis-server, and MongoDB when one is offered."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from media.storage import S3Location, S3MediaStore

BACKENDS = ["embedded", "mongo"]
"""Store backends every store-touching test runs against: the embedded store, and MongoDB's protocol —
a real MongoDB at ``HS_TEST_MONGO_URL`` when given, else a private nx-27017 (the stand-in)."""


# Where nx-27017 departs from MongoDB's documentation, found by tests that follow the documentation.
# Each marks its tests ``standin_deviation``: expected to fail on the stand-in only (docs/MONGODB.md).
NESTED_PROJECTION = (
    "nx-27017 returns a projected embedded field as a flat 'a.b' key; MongoDB returns it inside its "
    "embedded document (docs: Project Fields to Return from Query, embedded documents)"
)
INDEX_NAME = (
    "nx-27017 ignores createIndex's name option; MongoDB names the index as given "
    "(docs: db.collection.createIndex(), options: name)"
)
DATE_COMPARISON = (
    "nx-27017 matches no stored date with $lt against a date less than a second later; MongoDB "
    "compares BSON dates to the millisecond (docs: $lt; Comparison/Sort Order, Date objects)"
)
MULTIKEY_EQUALITY = (
    "nx-27017 finds no document by an array element once the array field is indexed; MongoDB matches "
    "any element, through a multikey index (docs: Multikey Indexes; Query an Array for an Element)"
)

SET_TYPES = (
    "nx-27017 stores a date set by $set as a string and True as 1; MongoDB keeps the BSON type "
    "of the value set (docs: $set)"
)

COMPOUND_ID = (
    "nx-27017 accepts an index whose compound key includes _id, then refuses every insert into the "
    "collection ('JSON path error near _id'); MongoDB indexes any field in a compound key, _id "
    "included (docs: Compound Indexes)"
)
NULL_BESIDE = (
    "nx-27017 matches only missing fields, not null ones, with {field: null} beside another "
    "condition; MongoDB matches null or missing (docs: Query for Null or Missing Fields)"
)


S3_BUCKET = "hs-media"
"""The bucket the tests' private S3 server is started with."""


def on_standin() -> bool:
    """The "mongo" backend is the nx-27017 stand-in, not a real MongoDB."""
    return not os.environ.get("HS_TEST_MONGO_URL")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of the tests' own on a free port, stopped (and its files removed) afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; install it or set HS_TEST_REDIS_URL")
    workdir = tempfile.mkdtemp(prefix="hs-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--logfile",
            os.path.join(workdir, "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def private_mongo() -> Iterator[str]:
    """A MongoDB wire-protocol server of the tests' own (nx-27017, from PyPI: no mongod installs
    here) on a free port, in a folder of its own, stopped and removed afterwards."""
    binary = shutil.which("nx-27017") or os.path.join(os.path.dirname(sys.executable), "nx-27017")
    workdir = tempfile.mkdtemp(prefix="hs-mongo-")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--data-dir",
            workdir,
            "--port",
            str(port),
            "--log-file",
            os.path.join(workdir, "nx.log"),
            "--pid-file",
            os.path.join(workdir, "nx.pid"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("private nx-27017 did not start")
            time.sleep(0.05)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def private_s3(bucket: str = S3_BUCKET) -> Iterator[str]:
    """An S3-compatible server of the tests' own (moto's server mode, from PyPI) on a free port, with
    ``bucket`` made; yields its endpoint URL. Stopped afterwards; it keeps everything in memory."""
    binary = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                # CreateBucket is a PUT of the bucket's path; moto's server does not check signatures.
                request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")
                with urllib.request.urlopen(request, timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("private moto_server did not start")
            time.sleep(0.1)
        yield endpoint
    finally:
        stop_process(proc)


def s3_media_store(endpoint: str, prefix: str, **kwargs: Any) -> S3MediaStore:
    """A media store in the private S3 server's bucket, under a prefix of the caller's."""
    location = S3Location.parse(
        f"s3://{S3_BUCKET}/{prefix}", endpoint=endpoint, region="us-east-1", access_key_id="test",
        secret_access_key="test",
    )  # fmt: skip
    return S3MediaStore(location, **kwargs)
