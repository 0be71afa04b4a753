"""Signed media URLs: an HMAC token, scoped to one track and one user, that expires.

External players send no header and no cookie, so the authorisation rides in the URL — in the *path*
(``/hls/<token>/<track_id>/master.m3u8``), because relative URIs inside a playlist inherit the path
but not the query string (ARCHITECTURE.md, "Known traps").

A token is ``<user_id>.<login_id>.<expires>.<mac>`` (``<user_id>.<expires>.<mac>`` when no login
stands behind it, as for a Subsonic app): ``expires`` in Unix seconds (base 10) and ``mac`` the first
128 bits of HMAC-SHA256 over track id, user id, login id and expiry, base64url without padding. The
login is named so that signing out can revoke its URLs (:mod:`server.delivery.revocation`). The HMAC key is
derived from ``HS_SECRET_KEY`` with a label of its own, so a media token can never stand in for any
other signature the server makes. Verifying needs no database: that is what keeps segment serving lean.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass

from server.errors import Forbidden

_KEY_LABEL = b"harmonystream/media-url/v1"
_MAC_BYTES = 16
_TOKEN_RE = re.compile(
    r"^([A-Za-z0-9_-]{1,64})\.(?:([A-Za-z0-9_-]{1,64})\.)?([0-9]{1,12})\.([A-Za-z0-9_-]{22})$"
)
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
EXPIRY_STEP = 300
"""Expiry is rounded up to this many seconds, so URLs handed out within one step are identical and a
player's (or CDN's) cache of immutable segments keeps hitting across repeated ``/media`` calls."""


@dataclass(frozen=True, slots=True)
class SignedToken:
    token: str
    expires_at: int
    """Unix seconds."""


@dataclass(frozen=True, slots=True)
class MediaGrant:
    """What a valid token grants: ``user_id`` may fetch ``track_id``'s media until ``expires_at``."""

    track_id: str
    user_id: str
    expires_at: int
    login_id: str | None = None
    """The sign-in the URL was handed to (None: none, e.g. a Subsonic app's)."""


class MediaSigner:
    def __init__(self, secret_key: str, ttl: int) -> None:
        if not secret_key:
            raise ValueError("media URLs need a secret key")
        self._key = hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self.ttl = ttl

    def sign(
        self, track_id: str, user_id: str, login_id: str | None = None, *, now: float | None = None
    ) -> SignedToken:
        """A token letting ``user_id`` (signed in as ``login_id``) fetch ``track_id`` for at least
        ``ttl`` seconds from ``now``."""
        if not _ID_RE.fullmatch(user_id):
            raise ValueError(f"user id {user_id!r} cannot go into a media token")
        if login_id is not None and not _ID_RE.fullmatch(login_id):
            raise ValueError(f"login id {login_id!r} cannot go into a media token")
        start = time.time() if now is None else now
        expires = math.ceil((start + self.ttl) / EXPIRY_STEP) * EXPIRY_STEP
        mac = self._mac(track_id, user_id, login_id, expires)
        named = f"{user_id}.{login_id}" if login_id else user_id
        return SignedToken(f"{named}.{expires}.{mac}", expires)

    def verify(self, token: str, track_id: str, *, now: float | None = None) -> MediaGrant:
        """The grant of ``token`` for ``track_id``; Forbidden when it is malformed, forged or expired.

        The signature is checked before the expiry, so an edited expiry reads as forged, not expired.
        """
        match = _TOKEN_RE.match(token)
        if match is None:
            raise Forbidden("This media URL is not valid.", code="invalid_media_url")
        user_id, login_id, expires_text, mac = match.groups()
        expires = int(expires_text)
        if not hmac.compare_digest(mac, self._mac(track_id, user_id, login_id, expires)):
            raise Forbidden("This media URL is not valid.", code="invalid_media_url")
        if expires <= (time.time() if now is None else now):
            raise Forbidden(
                "This media URL has expired; ask for a new one.",
                code="media_url_expired",
                details={"expired_at": expires},
            )
        return MediaGrant(track_id, user_id, expires, login_id)

    def _mac(self, track_id: str, user_id: str, login_id: str | None, expires: int) -> str:
        # Newlines cannot occur in any field, so the message is unambiguous; a token without a login
        # signs what it always signed.
        fields = (
            [track_id, user_id, login_id, str(expires)] if login_id else [track_id, user_id, str(expires)]
        )
        message = "\n".join(fields).encode()
        digest = hmac.digest(self._key, message, "sha256")[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
