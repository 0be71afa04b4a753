"""Socket.IO on the aiohttp app (path ``/socket.io``): authenticated connections, rooms, push, commands.

- Each connection belongs to a user (``server.realtime.auth``) and a device (``auth.device_id``; a
  connection without one is a device of its own). It joins the user's room (the user id) and its
  device's room, and receives the current ``playback`` state as soon as it is connected.
- Every event published on the server's ``EventBus`` goes out here: to the user's room when it names
  a user, to everyone otherwise. Workers emit straight onto the same Redis channel.
- ``playback:command`` from a client has the effect of the matching REST call. With
  ``target_device_id`` it acts as that device (play and resume make it the active one) and the target
  device also receives the command as ``playback:command`` (with ``from_device_id``). A bad command,
  or a target that is not a connected device of this user, gets an ``error`` event and changes nothing.
  Every command is also acknowledged: ``{"ok": true, "state": …}`` or ``{"ok": false, "error": …}``.
- With a real Redis, ``AsyncRedisManager`` carries every emit to the sockets of every server process;
  embedded, the in-process manager does.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import socketio
import structlog
from aiohttp import web
from pydantic import ValidationError

from media.events import (
    ERROR,
    PLAYBACK,
    PLAYBACK_COMMAND,
    SOCKETIO_CHANNEL_SUFFIX,
    DeviceCommandPayload,
    ErrorPayload,
    EventName,
)
from server.api import field_errors
from server.auth.service import AuthService
from server.documents import MONGO_DOWN, REDIS_DOWN
from server.errors import AppError, Invalid, NotFound, ServiceUnavailable, Unauthorized
from server.events import EventBus
from server.playback.schemas import DEVICE_ID, CommandIn
from server.playback.service import PlaybackRequest, PlaybackService
from server.realtime.auth import authenticate, refusal
from server.realtime.devices import HEARTBEAT, DeviceRegistry, device_room
from server.settings import Settings

log = structlog.get_logger("harmonystream.realtime")

SOCKETIO_PATH = "socket.io"
_DEVICE_ID = re.compile(DEVICE_ID)
_CONNECTED_WAIT = (0.005, 400)
"""(sleep seconds, attempts) while waiting for Socket.IO to finish accepting a connection."""


CLOSE_AFTER_REFUSAL = 0.5
"""Seconds between refusing a command of an ended sign-in and closing its connection."""


def make_socket_server(settings: Settings) -> socketio.AsyncServer:
    manager = None
    if settings.redis_url:
        manager = socketio.AsyncRedisManager(
            settings.redis_url,
            channel=settings.redis_prefix + SOCKETIO_CHANNEL_SUFFIX,
            # No socket_timeout: the listener blocks on its subscription for as long as nothing is said.
            redis_options={
                "socket_connect_timeout": settings.dependency_timeout,
                "health_check_interval": 30,
            },
        )
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        # Same-origin only (the default) unless a public URL is configured: a cross-site page must not
        # open a socket that rides on the session cookie.
        cors_allowed_origins=[settings.public_url.rstrip("/")] if settings.public_url else None,
        logger=False,
        engineio_logger=False,
    )


class RealtimeHub:
    """Owns the Socket.IO server. ``attach`` in ``create_app``; ``start``/``stop`` in ``cleanup_ctx``."""

    def __init__(self, settings: Settings) -> None:
        self.sio = make_socket_server(settings)
        self._auth: AuthService | None = None
        self._playback: PlaybackService | None = None
        self._devices: DeviceRegistry | None = None
        self._local: dict[str, tuple[str, str]] = {}
        """sid → (user id, device id) of the connections this process holds (for presence)."""
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on(PLAYBACK_COMMAND, self._on_command)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app, socketio_path=SOCKETIO_PATH)

    async def start(
        self, *, auth: AuthService, playback: PlaybackService, devices: DeviceRegistry, events: EventBus
    ) -> None:
        self._auth = auth
        self._playback = playback
        self._devices = devices
        events.subscribe(self._forward)

    async def stop(self) -> None:
        await self.sio.shutdown()
        manager = self.sio.manager
        # The Redis manager's listener task and client are not stopped by shutdown(); leaving them would
        # keep a connection and a pending task past the app's life.
        listener = getattr(manager, "thread", None)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        client = getattr(manager, "redis", None)
        if client is not None:
            await client.aclose()

    async def _forward(self, event: EventName, payload: dict, user_id: str | None) -> None:
        """The EventBus subscriber: a user's events to that user's room, the rest to everyone."""
        await self.sio.emit(event, payload, to=user_id)

    # -- connections ----------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        assert self._auth is not None and self._devices is not None
        try:
            principal = await authenticate(self._auth, environ, auth)
        except AppError as exc:
            raise _refused(exc) from exc
        except REDIS_DOWN + MONGO_DOWN as exc:
            raise _refused(ServiceUnavailable("redis")) from exc
        device_id = auth.get("device_id") if isinstance(auth, dict) else None
        if device_id is None:
            device_id = f"anon-{sid}"
        elif not isinstance(device_id, str) or not _valid_device(device_id):
            raise _refused(Invalid("device_id must be 1-64 of A-Z a-z 0-9 . _ : -"))
        user_id = principal.user_id
        await self.sio.save_session(
            sid, {"user_id": user_id, "device_id": device_id, "login_id": principal.login_id}
        )
        await self.sio.enter_room(sid, user_id)
        await self.sio.enter_room(sid, device_room(user_id, device_id))
        await self._devices.connected(user_id, device_id)
        self._local[sid] = (user_id, device_id)
        # Socket.IO accepts the connection only after this handler returns; an emit from here would
        # reach the client before its connection is acknowledged, so the state goes out from a task.
        self.sio.start_background_task(self._send_state, sid, user_id)

    async def _send_state(self, sid: str, user_id: str) -> None:
        assert self._playback is not None
        pause, attempts = _CONNECTED_WAIT
        for _ in range(attempts):
            if self.sio.manager.is_connected(sid, "/"):
                break
            await asyncio.sleep(pause)
        else:
            return
        try:
            state = await self._playback.state(user_id, present=lambda d: self.present(user_id, d))
            await self.sio.emit(PLAYBACK, dict(state), to=sid)
        except Exception:
            log.exception("initial_state_failed", user_id=user_id)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        """The device's last connection gone (a closed tab): if it was playing, playback pauses there."""
        assert self._devices is not None and self._playback is not None
        self._local.pop(sid, None)
        session = await self.sio.get_session(sid)
        if session:
            user_id, device_id = session["user_id"], session["device_id"]
            with contextlib.suppress(*REDIS_DOWN):
                if await self._devices.disconnected(user_id, device_id) <= 0:
                    await self._playback.device_gone(user_id, device_id)

    async def keep_present(self) -> None:
        """Heartbeats for the devices connected to this process (run under the app's supervisor)."""
        assert self._devices is not None
        while True:
            await self._devices.heartbeat(set(self._local.values()))
            await asyncio.sleep(HEARTBEAT)

    async def present(self, user_id: str, device_id: str) -> bool:
        assert self._devices is not None
        return await self._devices.present(user_id, device_id)

    # -- commands -------------------------------------------------------------------------------

    async def _on_command(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            return await self._command(sid, data)
        except AppError as exc:
            return await self._fail(sid, exc)
        except MONGO_DOWN:
            return await self._fail(sid, ServiceUnavailable("database"))
        except REDIS_DOWN:
            return await self._fail(sid, ServiceUnavailable("redis"))
        except Exception:
            log.exception("command_failed", sid=sid)
            return await self._fail(sid, AppError())

    async def _command(self, sid: str, data: Any) -> dict[str, Any]:
        assert self._playback is not None and self._devices is not None and self._auth is not None
        session = await self.sio.get_session(sid)
        # A sign-in that ended after the connection (sign-out, disabled or deleted account) commands
        # nothing more: the connection is closed just after this refusal is answered.
        if await self._auth.principal_from_login(session["login_id"], via="socket") is None:
            self.sio.start_background_task(self._close_later, sid)
            raise Unauthorized("This sign-in has ended; sign in again.", code="token_revoked")
        try:
            cmd = CommandIn.model_validate(data)
        except ValidationError as exc:
            raise Invalid(details={"fields": field_errors(exc)}) from exc
        user_id, own_device = session["user_id"], session["device_id"]
        target = cmd.target_device_id if cmd.target_device_id != own_device else None
        if target is not None and not await self._devices.is_connected(user_id, target):
            raise NotFound(
                "No device of yours with this id is connected.",
                code="unknown_device",
                details={"fields": {"target_device_id": target}},
            )
        if cmd.action == "play":
            device: str | None = target or own_device
        else:
            device = target  # resume moves playback only when a device is named
        applied = await self._playback.execute(
            user_id,
            PlaybackRequest(
                action=cmd.action,
                track_id=cmd.track_id,
                position_ms=cmd.position_ms,
                device_id=device,
                command_id=cmd.command_id,
            ),
        )
        if target is not None and applied.changed:
            forwarded = DeviceCommandPayload(
                action=cmd.action,
                track_id=cmd.track_id,
                position_ms=cmd.position_ms,
                from_device_id=own_device,
                state=applied.state,
            )
            await self.sio.emit(PLAYBACK_COMMAND, dict(forwarded), to=device_room(user_id, target))
        return {"ok": True, "state": dict(applied.state)}

    async def _close_later(self, sid: str) -> None:
        # The acknowledgement goes out when the handler returns: closing at once could overtake it.
        await asyncio.sleep(CLOSE_AFTER_REFUSAL)
        await self.sio.disconnect(sid)

    async def _fail(self, sid: str, exc: AppError) -> dict[str, Any]:
        error = ErrorPayload(code=exc.code, message=exc.message, details=exc.details)
        await self.sio.emit(ERROR, dict(error), to=sid)
        return {"ok": False, "error": dict(error)}


def _valid_device(device_id: str) -> bool:
    return _DEVICE_ID.fullmatch(device_id) is not None


def _refused(exc: AppError) -> socketio.exceptions.ConnectionRefusedError:
    # The client's connect_error gets {"message": ..., "data": {"code": ..., "message": ...}}.
    return socketio.exceptions.ConnectionRefusedError(exc.message, refusal(exc))
