"""The command line as a newcomer uses it: embedded defaults, create-user, a restart keeps users."""

from __future__ import annotations

import aiohttp
import pytest

from tests.processes import cli, cli_env, start_serve, stop, wait_answering
from tests.services import free_port


async def test_serve_on_embedded_defaults_keeps_users_across_restart(tmp_path):
    env = cli_env(tmp_path / "data")
    created = cli("create-user", "admin1", "--password", "admin-password", "--role", "admin", env=env)
    assert created.returncode == 0, created.stderr
    assert "created admin admin1" in created.stdout
    again = cli("create-user", "admin1", "--password", "admin-password", env=env)
    assert again.returncode != 0 and "already taken" in again.stderr
    assert cli("migrate", env=env).stdout.strip() == "nothing to apply"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # the second round is the restart
            proc = await start_serve(env, port)
            try:
                await wait_answering(session, base, proc)
                async with session.get(f"{base}/readyz") as resp:
                    assert resp.status == 200, await resp.text()
                async with session.post(
                    f"{base}/api/v1/auth/login", json={"username": "admin1", "password": "admin-password"}
                ) as resp:
                    assert resp.status == 200
                    body = await resp.json()
                    assert body["user"]["roles"] == ["admin"]
            finally:
                await stop(proc)
    assert (tmp_path / "data" / "secret_key").exists()


def test_worker_without_urls_explains_itself(tmp_path):
    result = cli("worker", env=cli_env(tmp_path / "data"))
    assert result.returncode != 0 and "HS_REDIS_URL" in result.stderr


def test_without_a_data_dir_the_secret_key_lives_in_the_default_one(tmp_path, monkeypatch):
    """No HS_DATA_DIR and no --data-dir: the embedded secret goes to the default data folder, whatever
    the working directory (it once went to a folder named after the field's descriptor, under cwd)."""
    from server import settings as settings_module
    from server.settings import Settings

    default = tmp_path / "default-data"
    monkeypatch.setattr(settings_module, "DEFAULT_DATA_DIR", default)
    monkeypatch.chdir(tmp_path)
    first = Settings.from_env({})
    assert (default / "secret_key").read_text().strip() == first.secret_key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default-data"]
    assert Settings.from_env({}).secret_key == first.secret_key


def test_scan_ladders_is_eager_or_on_play_and_on_play_needs_local_media(tmp_path):
    from server.errors import ConfigError
    from server.settings import Settings

    base = {"HS_DATA_DIR": str(tmp_path)}
    assert not Settings.from_env(base).scans_on_play  # eager unless asked
    assert Settings.from_env({**base, "HS_SCAN_LADDERS": "on-play"}).scans_on_play
    with_bucket = {**base, "HS_SCAN_LADDERS": "on-play", "HS_MEDIA_STORE": "s3://bucket"}
    assert not Settings.from_env(with_bucket).scans_on_play  # a bucket: scans stay eager
    with pytest.raises(ConfigError, match="HS_SCAN_LADDERS"):
        Settings.from_env({**base, "HS_SCAN_LADDERS": "lazy"})
