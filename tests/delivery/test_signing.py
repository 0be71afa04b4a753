"""Media URL tokens: scoped to a track and a user, expiring, unforgeable without the secret."""

from __future__ import annotations

import pytest

from server.delivery.signing import EXPIRY_STEP, MediaSigner
from server.errors import Forbidden

NOW = 1_800_000_000.0


def test_round_trip_and_scope() -> None:
    signer = MediaSigner("secret", ttl=3600)
    signed = signer.sign("track1", "user1", now=NOW)
    assert NOW + 3600 <= signed.expires_at < NOW + 3600 + EXPIRY_STEP
    grant = signer.verify(signed.token, "track1", now=NOW)
    assert (grant.track_id, grant.user_id, grant.expires_at) == ("track1", "user1", signed.expires_at)
    with pytest.raises(Forbidden) as exc:
        signer.verify(signed.token, "track2", now=NOW)
    assert exc.value.code == "invalid_media_url"


def test_another_secret_rejects() -> None:
    token = MediaSigner("secret", ttl=3600).sign("track1", "user1", now=NOW).token
    with pytest.raises(Forbidden):
        MediaSigner("other", ttl=3600).verify(token, "track1", now=NOW)


def test_expiry() -> None:
    signer = MediaSigner("secret", ttl=60)
    signed = signer.sign("t", "u", now=NOW)
    signer.verify(signed.token, "t", now=signed.expires_at - 1)
    with pytest.raises(Forbidden) as exc:
        signer.verify(signed.token, "t", now=signed.expires_at)
    assert exc.value.code == "media_url_expired"


def test_urls_within_one_step_are_identical() -> None:
    signer = MediaSigner("secret", ttl=3600)
    start = (NOW // EXPIRY_STEP) * EXPIRY_STEP + 1
    assert signer.sign("t", "u", now=start).token == signer.sign("t", "u", now=start + 100).token


def test_user_ids_that_cannot_go_into_a_path_are_refused() -> None:
    with pytest.raises(ValueError):
        MediaSigner("secret", ttl=60).sign("t", "a/b")
