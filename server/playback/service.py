"""Playback rules: commands, one active device, listens, history and play counts, and the push to devices.

Rules, in one place:

- ``play`` loads a ready track (404 unknown, 409 not ready, 400 a position past its end), starts a new
  listen, and makes ``device_id`` the active device (omitted: the active device stays the same). The
  other devices see the new ``device_id`` in the ``playback`` event and stop.
- ``pause``/``resume``/``seek`` need a loaded track (409 ``nothing_playing``); ``pause`` of a paused
  track and ``resume`` of a playing one change nothing but are not errors. ``stop`` unloads the track.
- How long a listen was heard (``ms_played``): the play time between commands, settled by the Lua
  script at every command from the anchored position (``now - updated_at`` while playing, capped at the
  end of the track). Seeking moves the position but adds nothing; a pause stops the clock. A listen
  ends at the next ``play`` or at ``stop``; what was heard after the last command of a track that simply
  ran out is settled by the next command.
- A listen counts toward the track's ``play_count`` once, when its heard time reaches 30 s or half the
  track, whichever comes first. The flip is atomic in Redis and again in the database, so retried or
  concurrent commands never count a listen twice.
- Retries: a command may carry a ``command_id``; a command whose id is among the user's last 16 is
  answered with the current state and has no effect. Without one, a retried ``play`` starts a new listen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from media.events import PLAYBACK, EventPublisher, PlaybackPayload
from media.records import Track
from server.catalog.store import TrackStore
from server.documents import new_id
from server.errors import Conflict, Invalid, NotFound
from server.playback.state import Action, Command, CommandResult, PlaybackStates, now_ms
from server.playback.store import HistoryStore

Presence = Callable[[str], Awaitable[bool]]
"""Whether a device of the user (by id) is still connected."""

Counted = Callable[[str, str | None], Awaitable[None]]
"""Told of each counted play: (track id, its genre); trending counts them
(:class:`server.recommend.trending.TrendingCounter`)."""

COUNT_AFTER_MS = 30_000
"""A listen counts once heard this long, or half the track if that is shorter."""


@dataclass(frozen=True, slots=True)
class PlaybackRequest:
    """One command as REST and Socket.IO both hand it over."""

    action: Action
    track_id: str | None = None
    position_ms: int | None = None
    device_id: str | None = None
    """play/resume: the device that plays from now on; None keeps the active one."""
    command_id: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    state: PlaybackPayload
    changed: bool
    """False for a recognised retry: nothing happened and nothing was pushed."""


def count_threshold(duration_ms: int) -> int:
    return min(COUNT_AFTER_MS, duration_ms // 2) if duration_ms > 0 else COUNT_AFTER_MS


class PlaybackService:
    def __init__(
        self,
        *,
        states: PlaybackStates,
        history: HistoryStore,
        tracks: TrackStore,
        events: EventPublisher,
        counted: Counted | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._states = states
        self._history = history
        self._tracks = tracks
        self._events = events
        self._counted = counted
        self._clock = clock

    async def state(self, user_id: str, *, present: Presence | None = None) -> PlaybackPayload:
        """The user's state with the position current now.

        ``present(device_id)`` says whether a device is still there: a state playing on a device that
        is gone (its process died without a disconnect) is paused where it got to, and that is answered.
        """
        state = await self._states.get(user_id)
        now = self._clock()
        if (
            state.playing_at(now)
            and state.device_id
            and present is not None
            and not await present(state.device_id)
        ):
            paused = await self.device_gone(user_id, state.device_id)
            if paused is not None:
                return paused
        return state.view(now)

    async def cue(self, user_id: str, track_id: str, position_ms: int, device_id: str) -> PlaybackPayload:
        """Load ``track_id`` paused at ``position_ms`` on ``device_id`` (a Subsonic app's saved play
        queue): every device sees where to resume; no listen starts until someone plays."""
        track = await self._playable(track_id)
        duration = track.duration_ms or 0
        cmd = Command(
            action="cue",
            now=self._clock(),
            track_id=track_id,
            duration_ms=duration,
            position_ms=min(position_ms, duration) if duration else position_ms,
            device_id=device_id,
        )
        return (await self._finish(user_id, await self._states.apply(user_id, cmd), cmd.now)).state

    async def scrobble(self, user_id: str, track_id: str, device_id: str, played_at: datetime | None) -> None:
        """A play an app reports as heard: the listen the app started here ends (and counts by the
        usual rule); a play this server never saw is recorded as one counted listen."""
        state = await self._states.get(user_id)
        if state.track_id == track_id and state.device_id == device_id:
            await self.execute(user_id, PlaybackRequest(action="stop"))
            return
        track = await self._tracks.get(track_id)
        listen_id = new_id()
        when = played_at or _datetime(self._clock())
        await self._history.start_listen(
            listen_id, user_id=user_id, track_id=track_id, played_at=when, device=device_id
        )
        await self._history.record_heard(listen_id, track.duration_ms or 0)
        if await self._history.mark_counted(listen_id):
            await self._count(track_id)

    async def _playable(self, track_id: str) -> Track:
        """The track if it can be played: 404 unknown (or a scanned file that vanished, which listeners
        do not see), 409 not ready."""
        track = await self._tracks.get(track_id)
        if track.missing:
            raise NotFound("No such track.")
        if not track.playable:
            raise Conflict("The track is not ready to play yet.", code="track_not_ready")
        return track

    async def device_gone(self, user_id: str, device_id: str) -> PlaybackPayload | None:
        """Pause if ``device_id`` is the device playing (its last connection ended); the new state, or
        None when another device plays (or nothing does). Atomic: a play elsewhere meanwhile wins."""
        cmd = Command(action="pause", now=self._clock(), device_id=device_id)
        result = await self._states.apply(user_id, cmd)
        if result.outcome != "ok":
            return None
        return (await self._finish(user_id, result, cmd.now)).state

    async def execute(self, user_id: str, req: PlaybackRequest) -> Applied:
        if req.action == "play":
            return await self._play(user_id, req)
        if req.action == "seek" and req.position_ms is None:
            raise Invalid(details={"fields": {"position_ms": "Field required"}})
        cmd = Command(
            action=req.action,
            now=self._clock(),
            command_id=req.command_id or "",
            position_ms=req.position_ms or 0,
            device_id=(req.device_id or "") if req.action == "resume" else "",
        )
        result = await self._states.apply(user_id, cmd)
        if result.outcome == "idle":
            raise Conflict("Nothing is playing.", code="nothing_playing")
        if result.outcome == "past_end":
            raise Invalid(
                "The position is past the end of the track.",
                details={"fields": {"position_ms": f"must be at most {result.state.duration_ms}"}},
            )
        return await self._finish(user_id, result, cmd.now)

    async def _play(self, user_id: str, req: PlaybackRequest) -> Applied:
        if not req.track_id:
            raise Invalid(details={"fields": {"track_id": "Field required"}})
        track = await self._playable(req.track_id)
        duration = track.duration_ms or 0
        position = req.position_ms or 0
        if duration and position > duration:
            raise Invalid(
                "The position is past the end of the track.",
                details={"fields": {"position_ms": f"must be at most {duration}"}},
            )
        now = self._clock()
        listen_id = new_id()
        # The listen exists before the state names it, so every later update of it finds its document.
        await self._history.start_listen(
            listen_id, user_id=user_id, track_id=req.track_id, played_at=_datetime(now), device=req.device_id
        )
        cmd = Command(
            action="play",
            now=now,
            command_id=req.command_id or "",
            track_id=req.track_id,
            duration_ms=duration,
            position_ms=position,
            device_id=req.device_id or "",
            listen_id=listen_id,
            threshold_ms=count_threshold(duration),
        )
        try:
            result = await self._states.apply(user_id, cmd)
        except BaseException:
            await self._history.forget_listen(listen_id)
            raise
        if result.outcome == "duplicate":
            await self._history.forget_listen(listen_id)
        return await self._finish(user_id, result, now)

    async def _finish(self, user_id: str, result: CommandResult, now: int) -> Applied:
        view = result.state.view(now)
        if result.outcome == "duplicate":
            return Applied(view, changed=False)
        # The state is committed in Redis already: push it first, so the database never delays devices.
        await self._events.publish(PLAYBACK, dict(view), user_id=user_id)
        await self._record(result)
        return Applied(view, changed=True)

    async def _record(self, result: CommandResult) -> None:
        """History and play count of the listen that ran before the command."""
        listen_id = result.prior_listen_id
        if listen_id is None:
            return
        if result.prior_advanced_ms > 0:
            await self._history.record_heard(listen_id, result.prior_heard_ms)
        if result.prior_crossed and result.prior_track_id and await self._history.mark_counted(listen_id):
            await self._count(result.prior_track_id)

    async def _count(self, track_id: str) -> None:
        """A listen just counted (once: its flag flipped): the play count, then trending."""
        exists, genre = await self._history.count_play(track_id)
        if self._counted is not None and exists:  # deleted meanwhile: nothing to trend
            await self._counted(track_id, genre)


def _datetime(ms: int) -> datetime:
    """Naive UTC at millisecond precision, as the stores keep times."""
    return datetime.fromtimestamp(ms // 1000, UTC).replace(tzinfo=None, microsecond=(ms % 1000) * 1000)
