"""Deleting an account: one call that removes everything the user owns or left behind.

Gone: the account, its logins (and with them web sessions, refresh and access tokens, signed media
URLs), app passwords, playlists, play history, stars and ratings, the playback state, device counts
and presence, the saved play queue. Kept: uploads (tracks belong to their artist profiles and stay in
the catalog), play counts and trending (anonymous numbers), the media revocation entry (it must outlive
the URLs it refuses, and expires with them), rate-limit windows (they expire within two windows).

The steps run in an order that makes a failure harmless and a retry complete: the account is disabled
first (no new sign-in, no new data), its logins end, what it owns goes, and the account document goes
last, so a delete that failed half-way leaves a disabled account that the admin deletes again.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.app_passwords import AppPasswordStore
from server.auth.service import AuthService
from server.playback.queues import PlayQueues
from server.playback.state import PlaybackStates
from server.playback.store import HistoryStore
from server.playlists.store import PlaylistStore
from server.realtime.devices import DeviceRegistry
from server.subsonic.marks import Annotations
from server.users.store import UserStore


@dataclass(frozen=True, slots=True)
class AccountRemoval:
    users: UserStore
    auth: AuthService
    app_passwords: AppPasswordStore
    annotations: Annotations
    playlists: PlaylistStore
    history: HistoryStore
    playback: PlaybackStates
    devices: DeviceRegistry
    queues: PlayQueues

    async def delete(self, user_id: str) -> None:
        """Delete the account ``user_id`` and what it owns; :class:`NotFound` if there is none."""
        user = await self.users.update(user_id, {"disabled": True})
        await self.auth.user_changed(user)  # cached copy dropped, logins and media URLs revoked
        await self.auth.forget_user(user_id)
        await self.app_passwords.delete_all(user_id)
        await self.annotations.forget_user(user_id)
        await self.playlists.delete_owned(user_id)
        await self.history.forget_user(user_id)
        await self.playback.forget(user_id)
        await self.devices.forget(user_id)
        await self.queues.forget(user_id)
        await self.users.delete(user_id)
