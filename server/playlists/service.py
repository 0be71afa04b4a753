"""Playlist rules: who may read and edit, positions, duplicates, and the JSON and M3U views.

- The owner reads and edits. Anyone signed in reads a public playlist; a private playlist of someone
  else answers 404, exactly like one that does not exist, so its existence does not leak. Editing
  someone else's public playlist answers 403. Admins may delete any playlist (moderation) but read a
  private one no more than anyone else: what someone listens to in private stays private.
- Positions count the tracks of the playlist as stored, minus tracks since deleted from the catalog
  (those are pruned from the document the first time they are noticed, so positions stay aligned).
- A track deleted from the catalog disappears: the ``library`` event pulls it from every playlist, and
  reads prune whatever another process deleted (no event reached us).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from media.events import EventName
from media.records import Playlist, Track
from server.auth.service import Principal
from server.catalog.schemas import TrackOut
from server.catalog.service import CatalogService
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.playlists.schemas import MAX_TRACKS, PlaylistOut, PlaylistPatch, PlaylistSummary
from server.playlists.store import PlaylistStore


class PlaylistService:
    def __init__(self, store: PlaylistStore, catalog: CatalogService) -> None:
        self.store = store
        self._catalog = catalog

    # -- access ----------------------------------------------------------------------------------

    async def readable(self, principal: Principal, playlist_id: str) -> Playlist:
        playlist = await self.store.get(playlist_id)
        if playlist.user_id != principal.user_id and not playlist.is_public:
            raise NotFound("No such playlist.", code="playlist_not_found")
        return playlist

    async def editable(self, principal: Principal, playlist_id: str) -> Playlist:
        playlist = await self.readable(principal, playlist_id)
        if playlist.user_id != principal.user_id:
            raise Forbidden("Only the owner may change this playlist.", code="not_playlist_owner")
        return playlist

    # -- tracks ----------------------------------------------------------------------------------

    async def _tracks(self, ids: Sequence[str]) -> dict[str, Track]:
        return await self._catalog.tracks_by_id(ids)

    async def _current(self, playlist: Playlist) -> tuple[Playlist, dict[str, Track]]:
        """The playlist with tracks deleted from the catalog pruned (in the database too), and its tracks."""
        tracks = await self._tracks(playlist.track_ids)
        missing = [i for i in dict.fromkeys(playlist.track_ids) if i not in tracks]
        if missing:
            await self.store.pull_tracks(missing, playlist_id=playlist.id)
            playlist = await self.store.get(playlist.id)
            tracks = await self._tracks(playlist.track_ids)
        return playlist, tracks

    async def on_library(self, event: EventName, payload: dict, user_id: str | None) -> None:
        if payload.get("kind") == "track" and payload.get("action") == "deleted":
            await self.store.pull_tracks([payload["id"]])

    # -- views -----------------------------------------------------------------------------------

    async def change_details(self, playlist_id: str, patch: PlaylistPatch) -> Playlist:
        """Rename, describe, make public or private: what the client sent of ``patch`` (a null
        description clears it). Both APIs come through here, so a name or description is cleaned and
        capped the same way whichever sent it. The caller has checked the playlist is editable."""
        changes = {
            k: v
            for k, v in patch.model_dump(exclude_unset=True).items()
            if v is not None or k == "description"
        }
        if not changes:
            return await self.store.get(playlist_id)
        return await self.store.update_fields(playlist_id, changes)

    async def view(self, principal: Principal, playlist: Playlist) -> PlaylistOut:
        playlist, tracks = await self._current(playlist)
        entries = [tracks[i] for i in playlist.track_ids if i in tracks]
        if playlist.user_id != principal.user_id:
            # Others see only what they could play; the owner sees every entry, so positions line up.
            entries = [t for t in entries if self._catalog.can_see(principal, t)]
        views = await self._catalog.track_views(entries)
        # The summary's fields, with the entries this caller sees counted instead of every stored one.
        return PlaylistOut(
            **self.summary(playlist).model_dump(exclude={"track_count"}),
            tracks=views,
            track_count=len(views),
            duration_ms=sum(t.duration_ms or 0 for t in views),
        )

    @staticmethod
    def summary(playlist: Playlist) -> PlaylistSummary:
        return PlaylistSummary(
            id=playlist.id,
            user_id=playlist.user_id,
            name=playlist.name,
            description=playlist.description,
            is_public=playlist.is_public,
            version=playlist.version,
            track_count=len(playlist.track_ids),
            created_at=playlist.created_at,
            updated_at=playlist.updated_at,
        )

    async def playable(self, principal: Principal, playlist: Playlist) -> list[TrackOut]:
        """The tracks of ``playlist`` the caller may play, in order (for the M3U export)."""
        playlist, tracks = await self._current(playlist)
        entries = [tracks[i] for i in playlist.track_ids if i in tracks]
        return await self._catalog.track_views([t for t in entries if self._catalog.can_see(principal, t)])

    # -- edits -----------------------------------------------------------------------------------

    async def add(
        self,
        principal: Principal,
        playlist_id: str,
        track_ids: list[str],
        position: int | None,
        allow_duplicates: bool,
    ) -> Playlist:
        playlist, _ = await self._current(await self.editable(principal, playlist_id))
        size = len(playlist.track_ids)
        if position is None:
            position = size
        if position > size:
            raise _out_of_range("position", position, size)
        wanted = await self._tracks(track_ids)
        unknown = [
            i
            for i in dict.fromkeys(track_ids)
            if i not in wanted or not self._catalog.can_see(principal, wanted[i])
        ]
        if unknown:
            raise Invalid(
                "Some tracks do not exist.",
                code="unknown_tracks",
                details={"fields": {"track_ids": "unknown track ids"}, "track_ids": unknown},
            )
        if not allow_duplicates:
            seen = set(playlist.track_ids)
            dupes = [i for n, i in enumerate(track_ids) if i in seen or i in track_ids[:n]]
            if dupes:
                raise Conflict(
                    "Some tracks are already in the playlist; send allow_duplicates=true to add them again.",
                    code="duplicate_tracks",
                    details={"track_ids": list(dict.fromkeys(dupes))},
                )
        if size + len(track_ids) > MAX_TRACKS:
            raise Conflict(f"A playlist holds at most {MAX_TRACKS} tracks.", code="playlist_full")
        return await self.store.insert_tracks(playlist_id, track_ids, position)

    async def remove(
        self, principal: Principal, playlist_id: str, position: int, version: int | None
    ) -> Playlist:
        def edit(ids: list[str]) -> list[str]:
            if position >= len(ids):
                raise _out_of_range("position", position, len(ids) - 1)
            return ids[:position] + ids[position + 1 :]

        return await self._edit(principal, playlist_id, version, edit)

    async def remove_positions(self, principal: Principal, playlist_id: str, positions: set[int]) -> Playlist:
        """Remove the tracks at all of ``positions`` in one edit (Subsonic's ``songIndexToRemove``)."""

        def edit(ids: list[str]) -> list[str]:
            if positions and max(positions) >= len(ids):
                raise _out_of_range("position", max(positions), len(ids) - 1)
            return [track_id for n, track_id in enumerate(ids) if n not in positions]

        return await self._edit(principal, playlist_id, None, edit)

    async def move(
        self, principal: Principal, playlist_id: str, src: int, dst: int, version: int | None
    ) -> Playlist:
        def edit(ids: list[str]) -> list[str]:
            for name, value in (("from", src), ("to", dst)):
                if value >= len(ids):
                    raise _out_of_range(name, value, len(ids) - 1)
            moved = ids[:]
            moved.insert(dst, moved.pop(src))
            return moved

        return await self._edit(principal, playlist_id, version, edit)

    async def _edit(
        self,
        principal: Principal,
        playlist_id: str,
        version: int | None,
        edit: Callable[[list[str]], list[str]],
    ) -> Playlist:
        """Apply a position-based ``edit`` to the list as read, only if nobody changed it meanwhile."""
        playlist, _ = await self._current(await self.editable(principal, playlist_id))
        if version is not None and version != playlist.version:
            raise _changed(playlist)
        updated = await self.store.replace_tracks(
            playlist_id, playlist.version, edit(list(playlist.track_ids))
        )
        if updated is None:
            raise _changed(await self.store.get(playlist_id))
        return updated


def _out_of_range(field: str, value: int, last: int) -> Invalid:
    return Invalid(
        f"Position {value} is out of range.",
        code="position_out_of_range",
        details={"fields": {field: f"must be between 0 and {max(last, 0)}"}, "max": last},
    )


def _changed(playlist: Playlist) -> Conflict:
    return Conflict(
        "The playlist changed meanwhile; read it again and retry.",
        code="playlist_changed",
        details={"version": playlist.version},
    )
