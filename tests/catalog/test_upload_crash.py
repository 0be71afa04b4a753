"""A server killed mid-upload leaves nothing behind once it (or any process on the data dir) starts
again: its temp file is removed at start whatever its age, and no track or artist half-exists."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp

from server.catalog.upload import open_temp, sweep_stale_uploads
from tests.processes import cli_env, create_user, start_serve, stop, wait_answering
from tests.services import free_port

PASSWORD = "crash-admin-password"


async def test_sigkill_mid_upload_leaves_no_temp_file_after_restart(tmp_path):
    data = tmp_path / "data"
    env = cli_env(data)
    await create_user(env, "uploader", PASSWORD, "artist")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_serve(env, port)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_answering(session, base, proc)
            async with session.post(
                f"{base}/api/v1/auth/login", json={"username": "uploader", "password": PASSWORD}
            ) as resp:
                token = (await resp.json())["access_token"]
        # Half an upload, by hand: the body is announced as 4 MB and only 1 MB is sent.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        boundary = "crashboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.flac"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        writer.write(
            (
                f"POST /api/v1/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                "Content-Length: 4000000\r\n\r\n"
            ).encode()
            + head
            + b"\0" * 1_000_000
        )
        await writer.drain()
        tmp_dir = data / "tmp"
        for _ in range(100):
            parts = [p for p in tmp_dir.glob("upload-*.part")] if tmp_dir.is_dir() else []
            if parts and parts[0].stat().st_size > 0:
                break
            await asyncio.sleep(0.1)
        assert parts, "the upload never reached the temp dir"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        writer.close()
        assert parts[0].exists()  # the dead process could not clean up

        proc = await start_serve(env, port)
        async with aiohttp.ClientSession() as session:
            await wait_answering(session, base, proc)
            async with session.get(f"{base}/readyz") as resp:
                assert resp.status == 200
            assert not parts[0].exists()
            async with session.get(
                f"{base}/api/v1/tracks", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert (await resp.json())["total"] == 0
            async with session.get(
                f"{base}/api/v1/artists", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert (await resp.json())["total"] == 0
    finally:
        await stop(proc)


def test_the_sweep_spares_uploads_a_live_process_holds(tmp_path):
    live_path, live = open_temp(tmp_path)
    orphan_path, orphan = open_temp(tmp_path)
    orphan.close()  # its receiver is gone: the lock went with it
    other = tmp_path / "unrelated.txt"
    other.write_text("not ours")
    try:
        assert sweep_stale_uploads(tmp_path) == 1
        assert live_path.exists() and not orphan_path.exists() and other.exists()
    finally:
        live.close()
    assert sweep_stale_uploads(tmp_path) == 1 and not live_path.exists()
    assert os.listdir(tmp_path) == ["unrelated.txt"]
