"""Catalog rules: who may see and change artists, albums and tracks; the JSON views; cache and events.

- Artists (role ``artist``) manage the artist profiles they created and the albums they created or
  whose artist they manage; they may edit and delete only tracks they uploaded. Admins may do all.
- Publishing: a track may be put under an artist profile (by upload, by name or tags, or by editing
  its ``artist_id``/``album_id``) only by that profile's owners and admins — :meth:`check_publish` is
  the one check. An upload that names no artist at all goes under the uploader's own profile (the
  oldest they manage, else one named after them), never under a shared "Unknown Artist".
- Listeners see ready tracks; a track that is processing or failed is visible to its uploader and
  to admins only. A track that cannot be seen answers 404, so its existence does not leak.
- Reads of single artists, albums and tracks go through :class:`CatalogCache`; every write here
  invalidates what it changed and publishes a ``library`` event. Tracks are cached only once they are
  ready or failed: the transcoder (another process, which never imports the server) writes only
  processing tracks, so it can never leave a stale copy behind.
- Everything outside the catalog package (its routes, Subsonic, search, playback, playlists) reads
  artists, albums and tracks here, as the records of ``media.records``; the stores stay behind it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from media.catalog_cache import CatalogCache
from media.errors import UnsafePath
from media.events import LIBRARY, TRACK, EventPublisher
from media.layout import MediaLayout
from media.records import Album, Artist, Track
from media.storage import MediaStore, remove_track_objects
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import ArtistStore
from server.catalog.paging import Page, PageCursor
from server.catalog.schemas import (
    AlbumDetail,
    AlbumOut,
    ArtistOut,
    GaplessOut,
    LoudnessOut,
    Rendition,
    TrackOut,
)
from server.catalog.store import TrackQuery, TrackStore
from server.errors import Conflict, Forbidden, Invalid, NotFound, UnsupportedMedia
from server.lyrics.store import LyricsStore
from transcoder.albums import AlbumLoudness

if TYPE_CHECKING:  # only named in signatures; the auth stack is not needed to scan a folder
    from server.auth.service import Principal

Changes = dict[str, Any]
"""The changed fields of an edit, as the API's validated body gives them."""
R = TypeVar("R")
PAGE = 500
"""Records read per query when a caller wants every one of a listing."""


def _cacheable_track(track: Track) -> bool:
    return track.status in ("ready", "failed")


def cover_url(track_id: str) -> str:
    return f"/api/v1/tracks/{track_id}/cover"


def cover_track_id(url: str | None) -> str | None:
    """The track whose cover a :func:`cover_url` shows (an album's cover is one of its tracks')."""
    return url.removeprefix("/api/v1/tracks/").removesuffix("/cover") if url else None


class CatalogService:
    def __init__(
        self,
        *,
        tracks: TrackStore,
        artists: ArtistStore,
        albums: AlbumStore,
        cache: CatalogCache,
        events: EventPublisher,
        layout: MediaLayout,
        bucket: MediaStore | None = None,
        loudness: AlbumLoudness | None = None,
        lyrics: LyricsStore | None = None,
    ) -> None:
        self.tracks = tracks
        self.artists = artists
        self.lyrics = lyrics
        """Lyrics, stored beside tracks: file lyrics on ingest and scans, removed with the track."""
        self.loudness = loudness
        """Album loudness, figured again when an album's tracks change (None: not kept, e.g. a scan)."""
        self.albums = albums
        self.cache = cache
        self.events = events
        self.layout = layout
        self.bucket = bucket
        """The media store when media lives in a bucket; None: files under ``layout.root``."""

    # -- cached reads ----------------------------------------------------------------------------

    async def track(self, track_id: str) -> Track:
        """The track, whoever may see it (:meth:`visible_track` applies the visibility rule)."""
        track = await self.cache.get(
            "track", track_id, lambda: self.tracks.find(track_id), Track.from_doc, cacheable=_cacheable_track
        )
        if track is None:
            raise NotFound("No such track.")
        return track

    async def find_artist(self, artist_id: str) -> Artist | None:
        return await self.cache.get(
            "artist", artist_id, lambda: self.artists.find(artist_id), Artist.from_doc
        )

    async def artist(self, artist_id: str) -> Artist:
        artist = await self.find_artist(artist_id)
        if artist is None:
            raise NotFound("No such artist.")
        return artist

    async def find_album(self, album_id: str) -> Album | None:
        return await self.cache.get("album", album_id, lambda: self.albums.find(album_id), Album.from_doc)

    async def album(self, album_id: str) -> Album:
        album = await self.find_album(album_id)
        if album is None:
            raise NotFound("No such album.")
        return album

    async def artists_by_id(self, ids: Iterable[str]) -> dict[str, Artist]:
        """{id: artist} of those of ``ids`` that exist."""
        return await self.cache.get_many("artist", ids, self.artists.get_many, Artist.from_doc)

    async def albums_by_id(self, ids: Iterable[str | None]) -> dict[str, Album]:
        """{id: album} of those of ``ids`` that exist."""
        wanted = [i for i in ids if i]
        return await self.cache.get_many("album", wanted, self.albums.get_many, Album.from_doc)

    # -- listings --------------------------------------------------------------------------------

    async def list_artists(
        self,
        *,
        name_prefix: str | None = None,
        owner_id: str | None = None,
        sort: str = "name",
        limit: int = PAGE,
        offset: int = 0,
        after: PageCursor | None = None,
    ) -> Page[Artist]:
        return await self.artists.page(
            name_prefix=name_prefix, owner_id=owner_id, sort=sort, limit=limit, offset=offset, after=after
        )

    async def list_albums(
        self,
        *,
        artist_id: str | None = None,
        sort: str = "title",
        limit: int = PAGE,
        offset: int = 0,
        after: PageCursor | None = None,
    ) -> Page[Album]:
        return await self.albums.page(artist_id=artist_id, sort=sort, limit=limit, offset=offset, after=after)

    async def list_tracks(
        self,
        query: TrackQuery,
        *,
        sort: str = "track_no",
        limit: int = PAGE,
        offset: int = 0,
        after: PageCursor | None = None,
    ) -> Page[Track]:
        return await self.tracks.page(query, sort=sort, limit=limit, offset=offset, after=after)

    async def every_artist(self) -> list[Artist]:
        """Every artist, by name."""
        return await _every(lambda offset: self.list_artists(offset=offset))

    async def every_album(self, artist_id: str | None = None) -> list[Album]:
        """Every album (of one artist, or of all), by title."""
        return await _every(lambda offset: self.list_albums(artist_id=artist_id, offset=offset))

    async def visible_tracks(self, principal: Principal, **filters: str) -> list[Track]:
        """Every track ``principal`` may see that matches ``filters`` (``artist_id``, ``album_id``,
        ``genre``), in track order."""
        query = TrackQuery(visible_to=principal.user_id, everything=principal.is_admin, **filters)
        return await _every(lambda offset: self.list_tracks(query, offset=offset))

    # -- permissions -----------------------------------------------------------------------------

    @staticmethod
    def can_see(principal: Principal, track: Track) -> bool:
        return track.visible_to(principal.user_id, admin=principal.is_admin)

    @staticmethod
    def check_track_owner(principal: Principal, track: Track) -> None:
        """:class:`Forbidden` unless ``principal`` uploaded ``track`` or is an admin."""
        if not principal.is_admin and (track.owner_id is None or track.owner_id != principal.user_id):
            raise Forbidden("Only the owners of this track and admins may change it.")

    @staticmethod
    def _check_owner(principal: Principal, owners: Iterable[str], what: str) -> None:
        """:class:`Forbidden` unless ``principal`` is an admin or among the ``owners`` of an artist or
        album."""
        if not principal.is_admin and principal.user_id not in set(owners):
            raise Forbidden(f"Only the owners of this {what} and admins may change it.")

    @staticmethod
    def check_publish(principal: Principal, artist: Artist) -> None:
        """:class:`Forbidden` unless ``principal`` may put tracks under ``artist`` (owner or admin)."""
        if not principal.is_admin and principal.user_id not in artist.owner_ids:
            raise Forbidden(
                f"Only the owners of the artist profile “{artist.name}” may publish under it.",
                code="artist_not_yours",
                details={"artist_id": artist.id},
            )

    def cover_file(self, track: Track) -> Path:
        """The track's cover file: NotFound when it has none, UnsupportedMedia if it is not a JPEG."""
        if not track.cover:
            raise NotFound("This track has no cover.")
        try:
            path = self.layout.resolve(track.cover)
        except UnsafePath as exc:
            raise NotFound("This track has no cover.") from exc
        if not path.is_file():
            raise NotFound("This track has no cover.")
        if path.suffix.lower() not in (".jpg", ".jpeg"):
            raise UnsupportedMedia("The stored cover is not a JPEG.")
        return path

    async def tracks_in_order(self, ids: Sequence[str], principal: Principal | None = None) -> list[Track]:
        """The tracks of ``ids`` that exist, in that order (repeats kept); with a ``principal``, only
        those it may see. How the Subsonic layer and others read tracks by id."""
        found = {t.id: t for t in await self.tracks.get_many(ids)}
        tracks = [found[i] for i in ids if i in found]
        return [t for t in tracks if principal is None or self.can_see(principal, t)]

    async def tracks_by_id(self, ids: Iterable[str]) -> dict[str, Track]:
        """{id: track} of those of ``ids`` that exist, read from the database (not the cache: lists of
        thousands, whose tracks may be processing), in batches of a thousand ids."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Track] = {}
        for start in range(0, len(wanted), 1000):
            found.update((t.id, t) for t in await self.tracks.get_many(wanted[start : start + 1000]))
        return found

    async def visible_track(self, principal: Principal, track_id: str) -> Track:
        """The track if ``principal`` may see it; :class:`NotFound` otherwise (its existence stays hidden)."""
        track = await self.track(track_id)
        if not self.can_see(principal, track):
            raise NotFound("No such track.")
        return track

    # -- views -----------------------------------------------------------------------------------

    async def track_views(self, tracks: list[Track]) -> list[TrackOut]:
        artists = await self.artists_by_id(t.artist_id for t in tracks)
        albums = await self.albums_by_id(t.album_id for t in tracks)
        out = []
        for t in tracks:
            artist = artists.get(t.artist_id)
            album = albums.get(t.album_id or "")
            out.append(self.track_out(t, artist.name if artist else None, album.title if album else None))
        return out

    @staticmethod
    def track_out(t: Track, artist_name: str | None, album_title: str | None) -> TrackOut:
        """The API view of a track, given its artist's name and album's title."""
        return TrackOut(
            id=t.id,
            title=t.title,
            artist_id=t.artist_id,
            artist_name=artist_name,
            album_id=t.album_id,
            album_title=album_title,
            duration_ms=t.duration_ms,
            genre=t.genre,
            track_no=t.track_no,
            release_year=t.release_year,
            play_count=t.play_count,
            status=t.status,
            error=t.error,
            progress=int(t.progress or 0),
            cover_url=cover_url(t.id) if t.cover else None,
            owner_id=t.owner_id,
            source=t.source,
            missing=t.missing,
            loudness=LoudnessOut(**asdict(t.loudness)) if t.loudness else None,
            gapless=GaplessOut(**t.gapless.as_dict()) if t.gapless else None,
            renditions=[Rendition(**asdict(r)) for r in t.renditions],
            created_at=t.created_at,
            updated_at=t.updated_at,
        )

    async def track_view(self, track: Track) -> TrackOut:
        return (await self.track_views([track]))[0]

    @staticmethod
    def artist_view(artist: Artist) -> ArtistOut:
        return ArtistOut(
            id=artist.id,
            name=artist.name,
            bio=artist.bio,
            image_url=None,  # no artist images are stored yet; the field is part of the contract
            owner_ids=list(artist.owner_ids),
            created_at=artist.created_at,
            updated_at=artist.updated_at,
        )

    async def album_views(self, albums: list[Album]) -> list[AlbumOut]:
        artists = await self.artists_by_id(a.artist_id for a in albums)
        covers = await self.tracks.with_cover([a.id for a in albums])
        return [
            self.album_out(
                album,
                artists[album.artist_id].name if album.artist_id in artists else None,
                covers.get(album.id),
            )
            for album in albums
        ]

    @staticmethod
    def album_out(album: Album, artist_name: str | None, cover_track_id: str | None) -> AlbumOut:
        """The API view of an album; its cover is that of ``cover_track_id``."""
        return AlbumOut(
            id=album.id,
            title=album.title,
            artist_id=album.artist_id,
            artist_name=artist_name,
            release_year=album.release_year,
            cover_url=cover_url(cover_track_id) if cover_track_id else None,
            owner_ids=list(album.owner_ids),
            created_at=album.created_at,
            updated_at=album.updated_at,
        )

    async def album_detail(self, principal: Principal, album_id: str) -> AlbumDetail:
        album = await self.album(album_id)
        (summary,) = await self.album_views([album])
        artist = await self.find_artist(album.artist_id)
        page = await self.list_tracks(
            TrackQuery(album_id=album_id, visible_to=principal.user_id, everything=principal.is_admin),
            limit=10_000,
        )
        return AlbumDetail(
            **summary.model_dump(),
            artist=self.artist_view(artist) if artist else None,
            tracks=await self.track_views(page.items),
        )

    # -- artists ---------------------------------------------------------------------------------

    async def create_artist(self, principal: Principal, name: str, bio: str | None) -> Artist:
        artist = await self.artists.create(name=name, bio=bio, owner_ids=[principal.user_id])
        await self.library("artist", artist.id, "created")
        return artist

    async def update_artist(self, principal: Principal, artist_id: str, changes: Changes) -> Artist:
        self._check_owner(principal, (await self.artist(artist_id)).owner_ids, "artist")
        artist = await self.artists.update(artist_id, changes)
        await self.cache.invalidate("artist", artist_id)
        await self.library("artist", artist_id, "updated")
        return artist

    async def delete_artist(self, principal: Principal, artist_id: str) -> None:
        self._check_owner(principal, (await self.artist(artist_id)).owner_ids, "artist")
        if await self.tracks.count(TrackQuery(artist_id=artist_id, everything=True)) or (
            await self.albums.count_of_artist(artist_id)
        ):
            raise Conflict("Delete or move this artist's tracks and albums first.", code="artist_not_empty")
        await self.artists.delete(artist_id)
        await self.cache.invalidate("artist", artist_id)
        await self.library("artist", artist_id, "deleted")

    async def publishing_artist(self, principal: Principal, name: str | None) -> tuple[Artist, bool]:
        """The profile an upload by ``principal`` goes under: (artist, created).

        ``name`` is found (case- and accent-insensitively) or created for the uploader; an existing
        profile must be theirs (:meth:`check_publish`). No name: their own profile.
        """
        if name is None:
            mine = await self.list_artists(owner_id=principal.user_id, sort="created_at", limit=1)
            if mine.items:
                return mine.items[0], False
            name = principal.username
        artist, created = await self.artists.find_or_create(name, principal.user_id)
        if not created:
            self.check_publish(principal, artist)
        return artist, created

    async def announce_created(self, kind: str, item_id: str) -> None:
        await self.library(kind, item_id, "created")

    async def forget_created(self, kind: str, item_id: str) -> None:
        """Remove an artist or album an upload created, when the upload failed after creating it."""
        if kind == "artist":
            in_use = await self.tracks.count(TrackQuery(artist_id=item_id, everything=True)) or (
                await self.albums.count_of_artist(item_id)
            )
        else:
            in_use = await self.tracks.count(TrackQuery(album_id=item_id, everything=True))
        if in_use:
            return  # another upload already uses it
        try:
            await (self.artists.delete(item_id) if kind == "artist" else self.albums.delete(item_id))
        except NotFound:
            return
        await self.cache.invalidate("artist" if kind == "artist" else "album", item_id)

    async def resolve_artists(self, names: list[str], owner_id: str | None) -> dict[str, Artist]:
        """Many artists by name at once (for scans): {name key: artist}, unknown ones created."""
        found, created = await self.artists.find_or_create_many(names, owner_id)
        for artist in created:
            await self.library("artist", artist.id, "created")
        return found

    # -- albums ----------------------------------------------------------------------------------

    async def create_album(self, principal: Principal, title: str, artist_id: str, year: int | None) -> Album:
        self._check_owner(principal, (await self.artist(artist_id)).owner_ids, "artist")
        album = await self.albums.create(
            title=title, artist_id=artist_id, release_year=year, owner_ids=[principal.user_id]
        )
        await self.library("album", album.id, "created")
        return album

    async def update_album(self, principal: Principal, album_id: str, changes: Changes) -> Album:
        await self._check_album_owner(principal, await self.album(album_id))
        album = await self.albums.update(album_id, changes)
        await self.cache.invalidate("album", album_id)
        await self.library("album", album_id, "updated")
        return album

    async def delete_album(self, principal: Principal, album_id: str) -> None:
        """Delete an album; its tracks stay, without an album."""
        await self._check_album_owner(principal, await self.album(album_id))
        await self.albums.delete(album_id)
        track_ids = await self.tracks.ids_where(TrackQuery(album_id=album_id, everything=True))
        await self.tracks.set_many(track_ids, {"album_id": None})
        if self.loudness is not None:
            await self.loudness.detach(track_ids)
        await self.cache.invalidate("album", album_id)
        await self.cache.invalidate("track", *track_ids)
        await self.library("album", album_id, "deleted")
        for track_id in track_ids:
            await self.library("track", track_id, "updated")

    async def resolve_album(
        self, title: str, artist_id: str, year: int | None, owner_id: str | None
    ) -> tuple[Album, bool]:
        """The album ``title`` of ``artist_id``, created if unknown: (album, created); nothing announced."""
        return await self.albums.find_or_create(title, artist_id, year, owner_id)

    async def resolve_albums(
        self, wanted: list[tuple[str, str, int | None]], owner_id: str | None
    ) -> dict[tuple[str, str], Album]:
        """Many (title, artist id, year) at once: {(artist id, title key): album}, unknown ones created."""
        found, created = await self.albums.find_or_create_many(wanted, owner_id)
        for album in created:
            await self.library("album", album.id, "created")
        return found

    async def _check_album_owner(self, principal: Principal, album: Album) -> None:
        artist = await self.find_artist(album.artist_id)
        owners = [*album.owner_ids, *(artist.owner_ids if artist else ())]
        self._check_owner(principal, owners, "album")

    # -- tracks ----------------------------------------------------------------------------------

    async def update_track(self, principal: Principal, track_id: str, changes: Changes) -> Track:
        track = await self.visible_track(principal, track_id)
        self.check_track_owner(principal, track)
        for required in ("title", "artist_id"):
            if required in changes and changes[required] is None:
                raise Invalid(details={"fields": {required: "must not be null"}})
        artist_id = changes.get("artist_id", track.artist_id)
        if "artist_id" in changes and artist_id != track.artist_id:
            self.check_publish(principal, await self.artist(artist_id))
        album_id = changes.get("album_id", track.album_id)
        if album_id and (await self.album(album_id)).artist_id != artist_id:
            raise Invalid(
                "The album belongs to another artist.",
                code="album_artist_mismatch",
                details={"fields": {"album_id": "belongs to another artist"}},
            )
        updated = await self.tracks.update(track_id, changes)
        await self.cache.invalidate("track", track_id)
        if self.loudness is not None and updated.album_id != track.album_id:
            await self.loudness.detach([track_id])
            for changed in (track.album_id, updated.album_id):
                await self.loudness.refresh(changed)
            updated = await self.track(track_id)  # with the album figures just written
        await self.library("track", track_id, "updated")
        return updated

    async def delete_track(self, principal: Principal, track_id: str) -> None:
        """Delete a track with its renditions and cover, and its original when it was uploaded.

        A scanned original belongs to the library on disk and is left where it is.
        """
        track = await self.visible_track(principal, track_id)
        self.check_track_owner(principal, track)
        await self.tracks.delete(track_id)
        await self.cache.invalidate("track", track_id)
        await self.remove_media(track_id)
        if self.lyrics is not None:
            await self.lyrics.delete(track_id)
        if self.loudness is not None:
            await self.loudness.forget(track_id)
            await self.loudness.refresh(track.album_id)
        await self.library("track", track_id, "deleted")

    async def set_track(self, track_id: str, changes: Changes) -> Track:
        """Change a track's stored fields (a new cover, a retried job's status) and announce it;
        the caller has checked who may."""
        track = await self.tracks.update(track_id, changes)
        await self.cache.invalidate("track", track_id)
        await self.library("track", track_id, "updated")
        return track

    async def remove_ladder(self, track_id: str) -> None:
        """Delete a track's ladder alone (a scanned file changed: its ladder on play is made again)."""
        if self.bucket is None:
            await asyncio.to_thread(shutil.rmtree, self.layout.hls_dir(track_id), True)

    async def remove_media(self, track_id: str) -> None:
        """Delete what is stored for a track (original, ladder, cover), wherever media lives."""
        if self.bucket is not None:
            await remove_track_objects(self.bucket, track_id)
        else:
            await asyncio.to_thread(self.layout.remove_track, track_id)

    async def track_status(self, track: Track) -> None:
        """Tell the uploader's devices where their track stands."""
        if track.owner_id:
            payload = {
                "id": track.id,
                "status": track.status,
                "progress": track.progress,
                "error": track.error,
            }
            await self.events.publish(TRACK, payload, user_id=track.owner_id)

    async def library(self, kind: str, item_id: str, action: str) -> None:
        await self.events.publish(LIBRARY, {"kind": kind, "id": item_id, "action": action})


async def _every(read: Callable[[int], Awaitable[Page[R]]]) -> list[R]:
    """Every record of a listing: ``read(offset)`` answers one page of it."""
    out: list[R] = []
    while True:
        page = await read(len(out))
        out.extend(page.items)
        if not page.items or len(out) >= page.total:
            return out
