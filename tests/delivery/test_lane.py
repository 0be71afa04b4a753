"""The segment lane (server/delivery/lane.py): the answers it gives itself equal the full path's, and
everything else reaches the full path with nothing lost."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.delivery.lane import ROUTE
from server.serving import LaneSite
from tests.delivery.conftest import Installed, local_path, media_urls, served

pytestmark = pytest.mark.asyncio

Response = tuple[int, dict[str, str], bytes]


@pytest.fixture
async def plain_port(client: TestClient) -> AsyncIterator[int]:
    """A second socket on the same app with no lane: every request takes the full path."""
    site = LaneSite(client.server.runner, "127.0.0.1", 0, lane=None)
    await site.start()
    yield site.port
    await site.stop()


async def _read_response(reader: asyncio.StreamReader, method: str = "GET") -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} twice"
            headers[name.lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = b"" if method == "HEAD" or status == 304 else await reader.readexactly(length)
    return status, headers, body


async def _exchange(port: int, *requests: str, method: str = "GET") -> list[Response]:
    """Send ``requests`` (heads without the final blank line) in one write; read every answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write("".join(r + "\r\n\r\n" for r in requests).encode())
        await writer.drain()
        return [await _read_response(reader, method) for _ in requests]
    finally:
        writer.close()


def _comparable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != "date"}


async def _segments(client: TestClient, listener: dict[str, str], track: Installed) -> list[str]:
    urls = await media_urls(client, listener, track.id)
    base = local_path(urls["hls_url"]).rsplit("/", 1)[0]
    rung = sorted(p for p in track.hls.iterdir() if p.is_dir())[0]
    return [f"{base}/{rung.name}/{f.name}" for f in sorted(rung.iterdir()) if f.suffix in (".m4s", ".mp4")]


def _file_of(track: Installed, target: str) -> Path:
    """The file a /hls/{token}/{track}/{rung}/{name} target names."""
    return track.hls / target.split("/", 4)[4]


async def test_lane_answers_exactly_as_the_full_path(
    client: TestClient, listener: dict[str, str], track: Installed, plain_port: int
) -> None:
    lane = client.server.lane
    port = client.server.port
    targets = await _segments(client, listener, track)
    assert len(targets) >= 3
    for target in targets:
        for method, extra in (("GET", ""), ("HEAD", ""), ("GET", "\r\nConnection: close")):
            request = f"{method} {target} HTTP/1.1\r\nHost: x\r\nX-Request-ID: same-id{extra}"
            before = lane.answered
            (ours,) = await _exchange(port, request, method=method)
            (full,) = await _exchange(plain_port, request, method=method)
            assert lane.answered == before + 1, "the lane did not take it"
            assert ours[0] == full[0] == 200
            assert _comparable(ours[1]) == _comparable(full[1]), (target, method)
            assert ours[2] == full[2]
            if method == "GET":
                assert ours[2] == _file_of(track, target).read_bytes()
    # Counted under the same route as the full path's answers.
    assert served(client, ROUTE) == 6 * len(targets)  # 3 by the lane, 3 by the full path, per target


async def test_requests_the_lane_does_not_take_reach_the_full_path(
    client: TestClient, listener: dict[str, str], track: Installed
) -> None:
    lane = client.server.lane
    port = client.server.port
    segment = (await _segments(client, listener, track))[1]
    bad_token = segment.replace("/hls/", "/hls/x", 1)
    head = "HTTP/1.1\r\nHost: x"
    before = lane.answered
    # One write, pipelined: a segment (lane), then a range, a health check and another segment, all
    # answered in order after the hand-over, by the full path.
    answers = await _exchange(
        port,
        f"GET {segment} {head}",
        f"GET {segment} {head}\r\nRange: bytes=10-19",
        f"GET /healthz {head}",
        f"GET {segment} {head}",
    )
    assert [a[0] for a in answers] == [200, 206, 200, 200]
    whole = answers[0][2]
    assert answers[1][2] == whole[10:20]
    assert answers[1][1]["content-range"] == f"bytes 10-19/{len(whole)}"
    assert answers[3][2] == whole
    assert lane.answered == before + 1
    # Refusals and misses: the full path's error answers, untouched.
    cases = [
        (bad_token, 403, "invalid_media_url"),
        (segment.rsplit("/", 1)[0] + "/seg_99999.m4s", 404, "not_found"),
        (segment.rsplit("/", 2)[0] + "/..%2f..%2fsecret.m4s", 404, "not_found"),
    ]
    for target, status, code in cases:
        (answer,) = await _exchange(port, f"GET {target} {head}")
        assert answer[0] == status, target
        assert code in answer[2].decode(), answer[2]
        assert answer[1]["access-control-allow-origin"] == "*"
    # Conditional requests go to the full path, which answers 304.
    etag = answers[0][1]["etag"]
    (answer,) = await _exchange(port, f"GET {segment} {head}\r\nIf-None-Match: {etag}")
    assert answer[0] == 304
    # A playlist too (gzip is the full path's business).
    master = local_path((await media_urls(client, listener, track.id))["hls_url"])
    (answer,) = await _exchange(port, f"GET {master} {head}\r\nAccept-Encoding: gzip")
    assert answer[0] == 200 and answer[1]["content-encoding"] == "gzip"
    assert lane.answered == before + 1


async def test_replaced_deleted_and_swapped_files(
    client: TestClient, listener: dict[str, str], track: Installed, tmp_path: Path
) -> None:
    port = client.server.port
    segment = (await _segments(client, listener, track))[1]
    path = _file_of(track, segment)
    request = f"GET {segment} HTTP/1.1\r\nHost: x"
    (first,) = await _exchange(port, request)
    assert first[2] == path.read_bytes()
    # Replaced as the transcoder replaces files: a new file renamed over the old one.
    new = path.with_name(".new")
    new.write_bytes(b"fresh bytes")
    os.utime(new, (1_700_000_000, 1_700_000_000))
    new.rename(path)
    (second,) = await _exchange(port, request)
    assert second[2] == b"fresh bytes"
    assert second[1]["etag"] != first[1]["etag"]
    # A symlink out of the media root, swapped in where a cached file was: never followed.
    outside = tmp_path / "outside.m4s"
    outside.write_bytes(b"secret")
    path.unlink()
    path.symlink_to(outside)
    (third,) = await _exchange(port, request)
    assert third[0] == 404 and b"secret" not in third[2]
    # Deleted (the track's files are removed): 404, not a stale copy.
    path.unlink()
    (fourth,) = await _exchange(port, request)
    assert fourth[0] == 404


async def test_a_slow_reader_gets_every_byte(
    client: TestClient, listener: dict[str, str], track: Installed
) -> None:
    """Many pipelined requests while nothing is read: the lane stops reading, then resumes."""
    port = client.server.port
    segments = await _segments(client, listener, track)
    requests = [f"GET {segments[i % len(segments)]} HTTP/1.1\r\nHost: x" for i in range(60)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    try:
        writer.write("".join(r + "\r\n\r\n" for r in requests).encode())
        await writer.drain()
        await asyncio.sleep(0.3)  # let the server's buffer fill
        answers = [await _read_response(reader) for _ in requests]
    finally:
        writer.close()
    expected = [_file_of(track, s).read_bytes() for s in segments]
    assert [a[2] for a in answers] == [expected[i % len(segments)] for i in range(60)]
    assert client.server.lane.answered >= 60


async def test_idle_connections_are_closed(
    client: TestClient, listener: dict[str, str], track: Installed
) -> None:
    site = LaneSite(client.server.runner, "127.0.0.1", 0, lane=client.server.lane, keepalive=0.3)
    await site.start()
    try:
        segment = (await _segments(client, listener, track))[0]
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(f"GET {segment} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, _ = await _read_response(reader)
        assert status == 200
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed by the server
        writer.close()
        # And a connection still open when the site stops is closed with it.
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(f"GET {segment} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert (await _read_response(reader))[0] == 200
    finally:
        await site.stop()
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()


async def test_requests_sent_before_a_half_close_are_all_answered(
    client: TestClient, listener: dict[str, str], track: Installed
) -> None:
    """Pipelined segment requests, then the client's FIN: every answer arrives, then the server closes.

    (aiohttp itself closes at once on a half-close, so after a hand-over the lane does the same.)
    """
    segments = await _segments(client, listener, track)
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    requests = [f"GET {segment} HTTP/1.1\r\nHost: x" for segment in segments * 3]
    writer.write("".join(r + "\r\n\r\n" for r in requests).encode())
    writer.write_eof()
    answers = [await _read_response(reader) for _ in requests]
    assert [a[2] for a in answers] == [_file_of(track, s).read_bytes() for s in segments * 3]
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()


async def test_an_incomplete_request_then_a_half_close_is_closed_at_once(
    client: TestClient, listener: dict[str, str], track: Installed
) -> None:
    """Not held open until the idle timeout (75 s): the connection ends as soon as the client's does."""
    target = (await _segments(client, listener, track))[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x".encode())  # no end of head
        await writer.drain()
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), timeout=5) is not None  # EOF (or an answer), promptly
        assert reader.at_eof()
    finally:
        writer.close()


async def test_a_request_without_exactly_one_host_is_a_400_on_both_paths(
    client: TestClient, listener: dict[str, str], track: Installed, plain_port: int
) -> None:
    """RFC 9112 §3.2. The lane used to answer such a segment request; now it hands it to aiohttp,
    whose parser refuses it, answered in the API's error shape (server/protocol_errors.py)."""
    target = (await _segments(client, listener, track))[0]
    for port in (client.server.port, plain_port):
        for head in (f"GET {target} HTTP/1.1", f"GET {target} HTTP/1.1\r\nHost: a\r\nHost: b"):
            [(status, headers, body)] = await _exchange(port, head + "\r\nConnection: close")
            assert status == 400 and headers["content-type"].startswith("application/json"), (port, head)
            assert b'"malformed_request"' in body
        # HTTP/1.0 has no such rule.
        [(status, _, _)] = await _exchange(port, f"GET {target} HTTP/1.0")
        assert status == 200


async def test_what_the_parser_refuses_is_answered_in_the_json_error_shape(client: TestClient) -> None:
    """aiohttp's parser answers before any middleware; the answer still has the API's shape."""
    long_target = "/api/v1/search?q=" + "a" * 9000
    bad_header = "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b"
    for head in (f"GET {long_target} HTTP/1.1\r\nHost: x", bad_header):
        [(status, headers, body)] = await _exchange(client.server.port, head)
        assert status == 400 and headers["content-type"].startswith("application/json"), head[:40]
        assert headers["x-content-type-options"] == "nosniff"
        assert b'"malformed_request"' in body
