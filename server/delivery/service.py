"""Delivery rules: which file a media URL names, how it is answered, and the URLs handed to players.

Routes only parse and call this. Nothing here touches the database: the signed routes verify an
HMAC and serve a file; only the catalog-backed routes (``/api/v1/tracks/{id}/…``) read the track.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from media.errors import UnsafePath
from media.layout import HLS_DIR, ORIGINALS_DIR, SAFE_COMPONENT_RE, MediaLayout, validate_track_id
from media.records import Track
from media.storage import ObjectMissing, StorageError, open_media_store
from server.delivery.files import FilePolicy, content_type_for, open_regular, send_file
from server.delivery.objects import send_object
from server.delivery.revocation import Revocations
from server.delivery.signing import MediaGrant, MediaSigner
from server.errors import Forbidden, Invalid, NotFound, ServiceUnavailable
from server.settings import Settings

CORS_HEADERS: dict[str, str] = {
    # Tokens ride in the path and no cookie is ever needed, so any origin may read the answers.
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges, ETag",
}
PREFLIGHT_HEADERS: dict[str, str] = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-Range, If-None-Match, If-Modified-Since",
    "Access-Control-Max-Age": "86400",
}
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=60"
"""Short: a track transcoded again gets new playlists (segments keep their immutable names per track)."""
SIGNED_ORIGINAL_CACHE = "public, max-age=86400"
PRIVATE_ORIGINAL_CACHE = "private, max-age=3600"
# The signed ones above are ceilings: each answer's max-age is cut to what is left of its URL's token
# (token_cache_control), so no shared cache keeps serving a URL after the token in it has expired.
_MAX_AGE_RE = re.compile(r"max-age=(\d+)")


def token_cache_control(cache_control: str, expires_at: float, now: float | None = None) -> str:
    """``cache_control`` with its max-age no longer than the token's remaining life (whole seconds)."""
    left = max(0, int(expires_at - (time.time() if now is None else now)))
    match = _MAX_AGE_RE.search(cache_control)
    if match is None or int(match.group(1)) <= left:
        return cache_control
    return cache_control[: match.start(1)] + str(left) + cache_control[match.end(1) :]


AUTH_CACHE_MAX = 60
"""Longest time nginx may reuse a "yes" of :meth:`DeliveryService.auth_answer` (never past the token's
expiry). It bounds how long tokens signed with a retired ``HS_SECRET_KEY``, or revoked
(:mod:`server.delivery.revocation`), keep opening HLS files through nginx: a minute."""
AUTH_DENY_CACHE = 60
"""How long nginx may reuse a "no": a forged or expired token never becomes valid again."""

HLS_SUFFIXES = frozenset({".m3u8", ".mp4", ".m4s"})
"""All that ``/hls/`` ever serves: playlists, init segments, media segments."""
_MAX_RELATIVE = 1024
_HOST_RE = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,255}$")


class HostPolicy:
    """Which ``Host`` names media URLs may be built on when no ``HS_PUBLIC_URL`` is set.

    Always: loopback names, IP literals (a LAN address typed into a browser) and this machine's own
    name; beyond that, ``HS_ALLOWED_HOSTS`` (exact names, or ``*.domain`` for its subdomains).
    """

    def __init__(self, allowed: str) -> None:
        own = socket.gethostname().lower()
        self._exact = {"localhost", own, f"{own}.local"}
        self._suffixes: list[str] = []
        for item in (a.strip().lower() for a in allowed.split(",")):
            if item.startswith("*."):
                self._suffixes.append(item[1:])
            elif item:
                self._exact.add(item)

    def allows(self, host: str) -> bool:
        name = _host_name(host.lower())
        if name in self._exact or any(name.endswith(s) for s in self._suffixes):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


def _host_name(host: str) -> str:
    """``host[:port]`` or ``[v6]:port`` without the port and brackets."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True, slots=True)
class MediaUrls:
    hls_url: str
    stream_url: str
    expires_at: int


class DeliveryService:
    def __init__(self, settings: Settings, revocations: Revocations | None = None) -> None:
        self.settings = settings
        self.revocations = revocations
        """Revoked logins and users (None: nothing is ever revoked, as in a bare test of files)."""
        self.layout = MediaLayout(settings.media_dir)
        self.store = open_media_store(settings.media_dir, settings.s3_location)
        self.remote = settings.s3_location is not None
        """Media objects live in a bucket: files are answered from it (or by redirect to it)."""
        self._redirect = self.remote and settings.s3_delivery == "redirect"
        self.signer = MediaSigner(settings.secret_key, settings.media_url_ttl)
        self._accel = settings.accel_redirect.rstrip("/")
        self._hosts = HostPolicy(settings.allowed_hosts)
        # Resolved paths (layout.resolve follows symlinks) are compared with the real root.
        self._root_prefix = str(settings.media_dir.resolve()) + "/"
        self._hls_policies = {
            ".m3u8": FilePolicy(
                content_type_for(Path("x.m3u8")), PLAYLIST_CACHE, gzip=True, headers=CORS_HEADERS
            ),
            ".mp4": FilePolicy("audio/mp4", SEGMENT_CACHE, headers=CORS_HEADERS),
            ".m4s": FilePolicy("audio/mp4", SEGMENT_CACHE, headers=CORS_HEADERS),
        }

    @property
    def confine_root(self) -> str:
        """The real media root, ending in "/": every file served from under it must really be there."""
        return self._root_prefix

    @property
    def offloads(self) -> bool:
        """Files are handed to nginx (``HS_ACCEL_REDIRECT``) rather than sent by us."""
        return bool(self._accel)

    # -- URLs ---------------------------------------------------------------------------------

    def urls(
        self, request: web.Request, track_id: str, user_id: str, login_id: str | None = None
    ) -> MediaUrls:
        """Absolute signed URLs for ``user_id`` to play ``track_id`` (revoked when ``login_id`` signs out)."""
        signed = self.signer.sign(track_id, user_id, login_id)
        base = self.base_url(request)
        return MediaUrls(
            hls_url=f"{base}/hls/{signed.token}/{track_id}/master.m3u8",
            stream_url=f"{base}/media/{signed.token}/{track_id}/original",
            expires_at=signed.expires_at,
        )

    def base_url(self, request: web.Request) -> str:
        """``public_url`` when configured, else what the client reached (through our proxy if trusted).

        A request's ``Host`` is the client's to choose, so it is used only when the operator allows it
        (:class:`HostPolicy`); anything else is refused with 400 ``host_not_allowed`` rather than signed
        into a URL on somebody else's server.
        """
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        scheme, host = request.scheme, request.host
        if self.settings.trust_proxy:
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            fwd_host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
            scheme = proto if proto in ("http", "https") else scheme
            host = fwd_host or host
        if not _HOST_RE.match(host) or not self._hosts.allows(host):
            raise Invalid(
                "Media URLs cannot be built for this host name. Set HS_PUBLIC_URL, or add the name to "
                "HS_ALLOWED_HOSTS.",
                code="host_not_allowed",
                details={"host": host[:255]},
            )
        return f"{scheme}://{host}"

    # -- signed files -------------------------------------------------------------------------

    def authorise(self, token: str, track_id: str) -> MediaGrant:
        """The grant of a path token; Forbidden when it is not valid for this track, or revoked."""
        grant = self.signer.verify(token, track_id)
        if self.revoked(grant):
            raise Forbidden(
                "This media URL was revoked: its sign-in ended or its account was disabled.",
                code="media_url_revoked",
            )
        return grant

    def revoked(self, grant: MediaGrant) -> bool:
        """Whether a verified grant was revoked since (memory only: cheap enough for every segment)."""
        return self.revocations is not None and self.revocations.refuses(grant)

    def auth_answer(self, token: str, track_id: str, *, now: float | None = None) -> web.Response:
        """nginx's ``auth_request`` answer for HLS files: 200 if ``token`` opens ``track_id``, else 403.

        No body and no database. ``X-Accel-Expires`` tells nginx's cache how long the answer holds:
        a "yes" until the token expires (at most :data:`AUTH_CACHE_MAX`), so a cached answer never
        outlives the token; a "no" for :data:`AUTH_DENY_CACHE`.
        """
        start = time.time() if now is None else now
        try:
            grant = self.signer.verify(token, track_id, now=start)
        except Forbidden:
            return web.Response(status=403, headers={"X-Accel-Expires": str(AUTH_DENY_CACHE)})
        if self.revoked(grant):
            return web.Response(status=403, headers={"X-Accel-Expires": str(AUTH_DENY_CACHE)})
        # Whole seconds, rounded down: nginx drops the entry at or before the expiry, never after.
        valid = min(int(grant.expires_at - start), AUTH_CACHE_MAX)
        if valid <= 0:
            return web.Response(status=403, headers={"X-Accel-Expires": str(AUTH_DENY_CACHE)})
        # nginx may reuse this answer for ``valid`` seconds more: the Cache-Control it sends files with
        # is computed for the end of that time, so it never outlives the token either.
        later = start + valid
        return web.Response(
            status=200,
            headers={
                "X-Accel-Expires": str(valid),
                "X-HS-Segment-Cache": token_cache_control(SEGMENT_CACHE, grant.expires_at, later),
                "X-HS-Playlist-Cache": token_cache_control(PLAYLIST_CACHE, grant.expires_at, later),
            },
        )

    @staticmethod
    def for_grant(policy: FilePolicy, grant: MediaGrant) -> FilePolicy:
        """``policy`` for an answer opened by ``grant``: cacheable no longer than the grant lives."""
        return replace(policy, cache_control=token_cache_control(policy.cache_control, grant.expires_at))

    def hls_path(self, track_id: str, subpath: str) -> tuple[str, FilePolicy]:
        """The file ``subpath`` names in the track's HLS folder, and how to answer it; else NotFound."""
        policy = self._hls_policies.get(os.path.splitext(subpath)[1].lower())
        if policy is None:
            raise NotFound("No such file.")
        return self._resolve(f"{HLS_DIR}/{track_id}/{subpath}"), policy

    def find_original(self, track_id: str) -> str | None:
        """The uploaded original in the layout (no database). Blocking: a directory listing."""
        try:
            found = self.layout.find_original(track_id)
        except UnsafePath:
            return None
        # Under the real root, like every other path here, so confinement and offload apply.
        return None if found is None else self._root_prefix + self.layout.relative(found)

    async def read_text(self, relative: str) -> str:
        """A small text file of the media (a playlist) from the bucket or the media folder; NotFound."""
        try:
            if self.remote:
                return b"".join([chunk async for chunk in self.store.read(relative)]).decode()
            return await asyncio.to_thread(Path(self._resolve(relative)).read_text)
        except (OSError, UnicodeDecodeError, ObjectMissing) as exc:
            raise NotFound("No such file.") from exc
        except StorageError as exc:
            raise ServiceUnavailable("object_store") from exc

    async def locate_original(self, track_id: str) -> str | None:
        """The uploaded original of ``track_id`` by the layout alone (no database): a local path, or
        with media in a bucket the path its key maps to under the root; None when there is none."""
        if not self.remote:
            return await asyncio.to_thread(self.find_original, track_id)
        try:
            validate_track_id(track_id)
        except UnsafePath:
            return None
        try:
            found = await self.store.keys(f"{ORIGINALS_DIR}/{track_id}/")
        except StorageError as exc:
            raise ServiceUnavailable("object_store") from exc
        return self._root_prefix + found[0] if found else None

    def original_of(self, track: Track) -> str | Path:
        """The original file a track names (absolute for scanned files); NotFound if it names none."""
        if track.original is None or not track.original.has_file:
            raise NotFound("This track has no original file.")
        if track.original.in_place:
            # A scanned file referenced in place: the path comes from our catalog, not from a URL.
            return Path(track.original.path)
        return self._resolve(track.original.path)

    @staticmethod
    def original_policy(path: str | Path, *, signed: bool, mime: str | None = None) -> FilePolicy:
        content_type = content_type_for(Path(path))
        if content_type == "application/octet-stream" and mime:
            content_type = mime
        if signed:
            return FilePolicy(content_type, SIGNED_ORIGINAL_CACHE, headers=CORS_HEADERS)
        return FilePolicy(content_type, PRIVATE_ORIGINAL_CACHE)

    async def answer(
        self, request: web.Request, path: str | Path, policy: FilePolicy, *, grant: MediaGrant | None = None
    ) -> web.StreamResponse:
        """Send ``path``, or hand it to nginx with X-Accel-Redirect when configured and possible.

        Files under the media root must really be there (no symlink out of it); a scanned original
        outside the root, named by the catalog, is sent as it is. With media in a bucket, a path under
        the root names the object of the same key: passed through with ranges, or, with
        ``HS_S3_DELIVERY=redirect`` and a ``grant``, a 302 to a presigned URL ending no later than the
        grant (playlists always come from here: they are small and their cache rules are ours).
        """
        relative = self._under_root(path)
        if self.remote and relative is not None:
            until = grant.expires_at if grant and self._redirect and not relative.endswith(".m3u8") else None
            return await send_object(request, self.store, relative, policy, redirect_until=until)
        confine = self._root_prefix if relative is not None else None
        if self._accel and relative is not None:
            # nginx opens the file again, but only after we checked this very path: no symlink out.
            # On the loop, like every open here (see server.delivery.files).
            fobj, _ = open_regular(path, confine)
            fobj.close()
            return self.accel_response(relative, policy)
        return await send_file(request, path, policy, confine_to=confine)

    def accel_response(self, relative: str, policy: FilePolicy) -> web.Response:
        """An empty answer telling nginx to serve ``relative`` (under the media root) itself.

        nginx keeps Content-Type and Cache-Control from this answer and adds validators, ranges and
        gzip; the CORS headers are re-added by deploy/nginx.conf from ``$upstream_http_*``.
        """
        headers = {
            "X-Accel-Redirect": f"{self._accel}/{quote(relative)}",
            "Content-Type": policy.content_type,
            "Cache-Control": policy.cache_control,
            **policy.headers,
        }
        return web.Response(status=200, headers=headers)

    def _resolve(self, relative: str) -> str:
        """``relative`` under the real media root, checked by the lexical rules of ``safe_resolve``.

        The symlink half of :func:`media.layout.safe_resolve` (``realpath``, one ``lstat`` per
        component, on every segment request) is replaced by checking the file actually opened
        (:func:`server.delivery.files.open_regular`), which is cheaper and has no check-to-use window.
        """
        if not relative or len(relative) > _MAX_RELATIVE or relative.startswith("/") or "\\" in relative:
            raise NotFound("No such file.")
        if "%" in relative:  # a second round of encoding (%252e) is a trick, never one of our names
            raise NotFound("No such file.")
        parts = relative.split("/")
        if not all(SAFE_COMPONENT_RE.fullmatch(part) for part in parts):
            raise NotFound("No such file.")
        # Plain strings: pathlib's parsing is a measurable share of a segment request.
        return self._root_prefix + relative

    def _under_root(self, path: str | Path) -> str | None:
        text = os.fspath(path)
        return text[len(self._root_prefix) :] if text.startswith(self._root_prefix) else None
