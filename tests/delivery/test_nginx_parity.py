"""The same Range / If-Range / HEAD requests to nginx and to us, on copies of the same file.

Status, Content-Range, Content-Length and the bytes must agree. Where RFC 9110 allows two answers and
nginx picks the other one, the case names the RFC's alternative and ours must be exactly that.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient

from server import keys
from tests.delivery.conftest import Installed
from tests.delivery.nginx import TYPES, private_nginx, wait_for_port
from tests.delivery.test_headers import parse_multipart
from tests.services import free_port

Headers = Callable[[str, str, int], dict[str, str]]
"""(its own ETag, its own Last-Modified, file size) → request headers."""


@dataclass(frozen=True)
class Case:
    name: str
    headers: Headers
    method: str = "GET"
    rfc_whole: str = ""
    """Non-empty: nginx answers otherwise, and RFC 9110 also allows sending the whole file (reason)."""


def r(value: str) -> Headers:
    return lambda etag, modified, size: {"Range": value.format(size=size)}


CASES = [
    Case("no range", lambda e, m, s: {}),
    Case("first bytes", r("bytes=0-99")),
    Case("one byte", r("bytes=0-0")),
    Case("last byte", r("bytes={size}-")),  # start == size: unsatisfiable
    Case("open end", r("bytes=100-")),
    Case("suffix", r("bytes=-100")),
    Case("suffix longer than file", r("bytes=-99999999")),
    Case("suffix zero", r("bytes=-0")),
    Case("whole by numbers", lambda e, m, s: {"Range": f"bytes=0-{s - 1}"}),
    Case("clamped end", lambda e, m, s: {"Range": f"bytes={s - 10}-{s + 1000}"}),
    Case("final byte", lambda e, m, s: {"Range": f"bytes={s - 1}-"}),
    Case("beyond end", lambda e, m, s: {"Range": f"bytes={s + 5}-{s + 10}"}),
    Case("upper-case unit", r("BYTES=0-9")),
    Case("unknown unit", r("items=0-9")),
    Case("two ranges", r("bytes=0-99,200-299")),
    Case("ranges with spaces", r("bytes=0-9, 20-29")),
    Case("three ranges with suffix", r("bytes=0-9,500-599,-5")),
    Case("overlapping within size", r("bytes=0-99,50-149")),
    Case("overlapping beyond size", r("bytes=0-,0-")),
    Case("one satisfiable of two", lambda e, m, s: {"Range": f"bytes=0-9,{s + 100}-"}),
    Case("malformed", r("bytes=abc"), rfc_whole="§14.2: a server MAY ignore an invalid ranges-specifier"),
    Case(
        "reversed", r("bytes=9-0"), rfc_whole="§14.1.1: last-pos < first-pos makes the set invalid; ignorable"
    ),
    Case("malformed member", r("bytes=0-9,x"), rfc_whole="§14.2: an invalid set may be ignored"),
    Case("if-range etag match", lambda e, m, s: {"Range": "bytes=0-9", "If-Range": e}),
    Case("if-range etag mismatch", lambda e, m, s: {"Range": "bytes=0-9", "If-Range": '"nope"'}),
    Case("if-range weak etag", lambda e, m, s: {"Range": "bytes=0-9", "If-Range": f"W/{e}"}),
    Case("if-range date match", lambda e, m, s: {"Range": "bytes=0-9", "If-Range": m}),
    Case(
        "if-range old date",
        lambda e, m, s: {"Range": "bytes=0-9", "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"},
    ),
    Case("if-range without range", lambda e, m, s: {"If-Range": e}),
    Case("head", lambda e, m, s: {}, method="HEAD"),
    Case(
        "head with range",
        r("bytes=0-9"),
        method="HEAD",
        rfc_whole="§14.2: range handling is defined for GET only; a server MUST ignore Range on HEAD",
    ),
]


@dataclass(frozen=True)
class Answer:
    status: int
    content_range: str | None
    content_length: str | None
    body: object


async def fetch(
    session: aiohttp.ClientSession, url: str, case: Case, etag: str, modified: str, size: int
) -> Answer:
    headers = {"Accept-Encoding": "identity", **case.headers(etag, modified, size)}
    async with session.request(case.method, url, headers=headers, auto_decompress=False) as resp:
        data = await resp.read()
        ctype = resp.headers.get("Content-Type", "")
        body: object = data
        if ctype.startswith("multipart/byteranges"):
            body = parse_multipart(data, ctype.split("boundary=", 1)[1])
        if resp.status == 416:
            body = None  # both send an error page of their own
        length = resp.headers.get("Content-Length")
        if ctype.startswith("multipart/byteranges") or resp.status == 416:
            length = None  # boundaries and error pages differ in length; the parts are compared instead
        return Answer(resp.status, resp.headers.get("Content-Range"), length, body)


async def validators(session: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    async with session.head(url) as resp:
        assert resp.status == 200
        return resp.headers["ETag"], resp.headers["Last-Modified"]


async def test_same_answers_as_nginx(client: TestClient, track: Installed, tmp_path: Path) -> None:
    docroot = tmp_path / "nginx-root"
    docroot.mkdir()
    shutil.copy2(track.original, docroot / "original.flac")  # same bytes, same mtime
    size = track.original.stat().st_size
    port = free_port()
    conf = f"{TYPES}\n    server {{\n        listen 127.0.0.1:{port};\n        root {docroot};\n    }}\n"
    token = client.app[keys.DELIVERY].signer.sign(track.id, "user1").token
    ours_url = str(client.make_url(f"/media/{token}/{track.id}/original"))
    nginx_url = f"http://127.0.0.1:{port}/original.flac"
    with private_nginx(conf):
        wait_for_port(port)
        async with aiohttp.ClientSession() as session:
            ours_v = await validators(session, ours_url)
            nginx_v = await validators(session, nginx_url)
            assert ours_v[1] == nginx_v[1], "Last-Modified must agree (same mtime)"
            mismatches = []
            alternatives = set()
            for case in CASES:
                theirs = await fetch(session, nginx_url, case, *nginx_v, size)
                ours = await fetch(session, ours_url, case, *ours_v, size)
                if ours == theirs:
                    continue
                if case.rfc_whole:
                    whole = data_of(track.original, case.method)
                    if ours == Answer(200, None, str(size), whole):
                        alternatives.add(case.name)
                        continue
                mismatches.append((case.name, theirs, ours))
    assert not mismatches, "\n".join(f"{n}:\n  nginx {t}\n  ours  {o}" for n, t, o in mismatches)
    # Each declared alternative is really one where nginx chose the other answer (416 or 206).
    assert alternatives == {c.name for c in CASES if c.rfc_whole}


def data_of(path: Path, method: str) -> bytes:
    return b"" if method == "HEAD" else path.read_bytes()
