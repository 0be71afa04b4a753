"""The playback state of one user: a Redis hash ``{prefix}playback:{user}`` changed only by one Lua script.

The hash keeps an anchor (the position at ``updated_at``), not a running position: while playing, the
current position is computed from the clock, so nothing writes while time passes. Every command reads,
settles and writes the hash in one script run, so commands from two devices at once serialise and
always leave a coherent state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal

import redis.asyncio as aioredis

from media.events import PlaybackPayload

Action = Literal["play", "pause", "resume", "seek", "stop", "cue"]
Outcome = Literal["ok", "duplicate", "idle", "past_end", "elsewhere"]

STATE_TTL = 30 * 86400
"""Seconds an untouched state is kept; a user back after a month starts from nothing."""

_SCRIPT = resources.files("server.playback").joinpath("command.lua").read_text()


def now_ms() -> int:
    """Milliseconds since the epoch: the one clock of playback (servers are expected to run NTP)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class PlaybackState:
    """What the hash holds about the loaded track; ``position_ms`` is the anchor at ``updated_at``."""

    track_id: str | None = None
    duration_ms: int = 0
    """0 when the track's duration is unknown: the position is then never capped."""
    position_ms: int = 0
    is_playing: bool = False
    device_id: str | None = None
    updated_at: int = 0
    """Milliseconds since the epoch; 0 = the user never sent a command."""

    def position_at(self, now: int) -> int:
        if not self.track_id:
            return 0
        if not self.is_playing:
            return self.position_ms
        position = self.position_ms + max(0, now - self.updated_at)
        return min(position, self.duration_ms) if self.duration_ms > 0 else position

    def playing_at(self, now: int) -> bool:
        """Playing, and not yet past the end (a track that ran out reads as stopped at its end)."""
        if not self.track_id or not self.is_playing:
            return False
        return self.duration_ms <= 0 or self.position_at(now) < self.duration_ms

    def view(self, now: int) -> PlaybackPayload:
        """The state as API.md shows it, with the position current at ``now``."""
        return PlaybackPayload(
            track_id=self.track_id,
            position_ms=self.position_at(now),
            is_playing=self.playing_at(now),
            device_id=self.device_id,
            updated_at=_iso(self.updated_at) if self.updated_at else None,
        )


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What the script did: the new state, and the listen that was running before the command."""

    outcome: Outcome
    state: PlaybackState
    prior_listen_id: str | None
    prior_track_id: str | None
    prior_heard_ms: int
    """Total time heard of the prior listen, up to this command."""
    prior_advanced_ms: int
    """Time heard of the prior listen since the command before this one (0: nothing to record)."""
    prior_crossed: bool
    """The prior listen reached its count threshold with this command (true once per listen)."""


@dataclass(frozen=True, slots=True)
class Command:
    action: Action
    now: int
    command_id: str = ""
    track_id: str = ""
    duration_ms: int = 0
    position_ms: int = 0
    device_id: str = ""
    """"" keeps the current device."""
    listen_id: str = ""
    threshold_ms: int = 0


class PlaybackStates:
    """Reads and changes the per-user playback hashes."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_SCRIPT)

    def key(self, user_id: str) -> str:
        return f"{self._prefix}playback:{user_id}"

    async def forget(self, user_id: str) -> None:
        await self._redis.delete(self.key(user_id))

    async def get(self, user_id: str) -> PlaybackState:
        raw = await self._redis.hgetall(self.key(user_id))
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return PlaybackState(
            track_id=fields.get("track_id") or None,
            duration_ms=int(fields.get("duration_ms") or 0),
            position_ms=int(fields.get("position_ms") or 0),
            is_playing=fields.get("is_playing") == "1",
            device_id=fields.get("device_id") or None,
            updated_at=int(fields.get("updated_at") or 0),
        )

    async def apply(self, user_id: str, cmd: Command) -> CommandResult:
        reply: list[Any] = await self._script(
            keys=[self.key(user_id)],
            args=[
                cmd.action,
                cmd.now,
                cmd.command_id,
                cmd.track_id,
                cmd.duration_ms,
                cmd.position_ms,
                cmd.device_id,
                cmd.listen_id,
                cmd.threshold_ms,
                STATE_TTL,
            ],
        )
        code, track_id, duration, position, playing, device, updated = reply[:7]
        prior_listen, prior_track, prior_heard, advanced, crossed = reply[7:]
        return CommandResult(
            outcome=_text(code),  # type: ignore[arg-type]
            state=PlaybackState(
                track_id=_text(track_id) or None,
                duration_ms=int(duration),
                position_ms=int(position),
                is_playing=bool(int(playing)),
                device_id=_text(device) or None,
                updated_at=int(updated),
            ),
            prior_listen_id=_text(prior_listen) or None,
            prior_track_id=_text(prior_track) or None,
            prior_heard_ms=int(prior_heard),
            prior_advanced_ms=int(advanced),
            prior_crossed=bool(int(crossed)),
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _iso(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
