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
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from media.catalog_cache import CatalogCache
from media.errors import UnsafePath
from media.events import LIBRARY, TRACK, EventPublisher
from media.layout import MediaLayout
from media.records import Album, Artist, Track
from media.storage import MediaStore, remove_track_objects
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import ArtistStore
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

Doc = dict[str, Any]


def _cacheable_track(doc: Doc) -> bool:
    return doc.get("status") in ("ready", "failed")


def records(docs: Iterable[Doc]) -> list[Track]:
    """Track records of stored documents (each checked against the record's rules)."""
    return [Track.from_doc(d) for d in docs]


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

    async def track_doc(self, track_id: str) -> Doc:
        doc = await self.cache.get(
            "track", track_id, lambda: self.tracks.find(track_id), cacheable=_cacheable_track
        )
        if doc is None:
            raise NotFound("No such track.")
        return doc

    async def artist_doc(self, artist_id: str) -> Doc:
        doc = await self.cache.get("artist", artist_id, lambda: self.artists.find(artist_id))
        if doc is None:
            raise NotFound("No such artist.")
        return doc

    async def album_doc(self, album_id: str) -> Doc:
        doc = await self.cache.get("album", album_id, lambda: self.albums.find(album_id))
        if doc is None:
            raise NotFound("No such album.")
        return doc

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
    def _check_owner(principal: Principal, doc: Doc, what: str, extra_owners: list[str] = ()) -> None:
        """:class:`Forbidden` unless ``principal`` is an admin or among the owners of an artist or
        album document (``extra_owners``: an album's artist's)."""
        owners = [*doc.get("owner_ids", []), *extra_owners]
        if not principal.is_admin and principal.user_id not in owners:
            raise Forbidden(f"Only the owners of this {what} and admins may change it.")

    @staticmethod
    def check_publish(principal: Principal, artist: Doc) -> None:
        """:class:`Forbidden` unless ``principal`` may put tracks under ``artist`` (owner or admin)."""
        if not principal.is_admin and principal.user_id not in artist.get("owner_ids", []):
            raise Forbidden(
                f"Only the owners of the artist profile “{artist['name']}” may publish under it.",
                code="artist_not_yours",
                details={"artist_id": artist["_id"]},
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
        found = {d["_id"]: d for d in await self.tracks.get_many(ids)}
        tracks = records(found[i] for i in ids if i in found)
        return [t for t in tracks if principal is None or self.can_see(principal, t)]

    async def visible_track(self, principal: Principal, track_id: str) -> Track:
        """The track if ``principal`` may see it; :class:`NotFound` otherwise (its existence stays hidden)."""
        track = Track.from_doc(await self.track_doc(track_id))
        if not self.can_see(principal, track):
            raise NotFound("No such track.")
        return track

    # -- views -----------------------------------------------------------------------------------

    async def track_views(self, tracks: list[Track]) -> list[TrackOut]:
        artists = await self.cache.get_many("artist", [t.artist_id for t in tracks], self.artists.get_many)
        albums = await self.cache.get_many("album", [t.album_id for t in tracks], self.albums.get_many)
        out = []
        for t in tracks:
            artist = artists.get(t.artist_id)
            album = albums.get(t.album_id or "")
            names = (artist["name"] if artist else None, album["title"] if album else None)
            out.append(self.track_out(t, *names))
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
    def artist_view(doc: Doc) -> ArtistOut:
        artist = Artist.from_doc(doc)
        return ArtistOut(
            id=artist.id,
            name=artist.name,
            bio=artist.bio,
            image_url=None,  # no artist images are stored yet; the field is part of the contract
            owner_ids=list(artist.owner_ids),
            created_at=artist.created_at,
            updated_at=artist.updated_at,
        )

    async def album_views(self, docs: list[Doc]) -> list[AlbumOut]:
        artists = await self.cache.get_many("artist", [d["artist_id"] for d in docs], self.artists.get_many)
        covers = await self.tracks.with_cover([d["_id"] for d in docs])
        return [
            self.album_out(
                d,
                artists[d["artist_id"]]["name"] if d["artist_id"] in artists else None,
                covers.get(d["_id"]),
            )
            for d in docs
        ]

    @staticmethod
    def album_out(d: Doc, artist_name: str | None, cover_track_id: str | None) -> AlbumOut:
        """The API view of an album document; its cover is that of ``cover_track_id``."""
        album = Album.from_doc(d)
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
        album = await self.album_doc(album_id)
        (summary,) = await self.album_views([album])
        artist = await self.cache.get(
            "artist", album["artist_id"], lambda: self.artists.find(album["artist_id"])
        )
        query = TrackQuery(album_id=album_id, visible_to=principal.user_id, everything=principal.is_admin)
        docs, _ = await self.tracks.list(query, sort="track_no", limit=10_000, offset=0)
        return AlbumDetail(
            **summary.model_dump(),
            artist=self.artist_view(artist) if artist else None,
            tracks=await self.track_views(records(docs)),
        )

    # -- artists ---------------------------------------------------------------------------------

    async def create_artist(self, principal: Principal, name: str, bio: str | None) -> Doc:
        doc = await self.artists.create(name=name, bio=bio, owner_ids=[principal.user_id])
        await self.library("artist", doc["_id"], "created")
        return doc

    async def update_artist(self, principal: Principal, artist_id: str, changes: Doc) -> Doc:
        self._check_owner(principal, await self.artist_doc(artist_id), "artist")
        doc = await self.artists.update(artist_id, changes)
        await self.cache.invalidate("artist", artist_id)
        await self.library("artist", artist_id, "updated")
        return doc

    async def delete_artist(self, principal: Principal, artist_id: str) -> None:
        self._check_owner(principal, await self.artist_doc(artist_id), "artist")
        if await self.tracks.count({"artist_id": artist_id}) or await self.albums.count(
            {"artist_id": artist_id}
        ):
            raise Conflict("Delete or move this artist's tracks and albums first.", code="artist_not_empty")
        await self.artists.delete(artist_id)
        await self.cache.invalidate("artist", artist_id)
        await self.library("artist", artist_id, "deleted")

    async def publishing_artist(self, principal: Principal, name: str | None) -> tuple[Doc, bool]:
        """The profile an upload by ``principal`` goes under: (doc, created).

        ``name`` is found (case- and accent-insensitively) or created for the uploader; an existing
        profile must be theirs (:meth:`check_publish`). No name: their own profile.
        """
        if name is None:
            mine, _ = await self.artists.list(
                name_prefix=None, owner_id=principal.user_id, sort="created_at", limit=1, offset=0
            )
            if mine:
                return mine[0], False
            name = principal.username
        doc, created = await self.artists.find_or_create(name, principal.user_id)
        if not created:
            self.check_publish(principal, doc)
        return doc, created

    async def announce_created(self, kind: str, doc_id: str) -> None:
        await self.library(kind, doc_id, "created")

    async def forget_created(self, kind: str, doc_id: str) -> None:
        """Remove an artist or album an upload created, when the upload failed after creating it."""
        store = self.artists if kind == "artist" else self.albums
        field = "artist_id" if kind == "artist" else "album_id"
        if await self.tracks.count({field: doc_id}) or (
            kind == "artist" and await self.albums.count({"artist_id": doc_id})
        ):
            return  # another upload already uses it
        try:
            await store.delete(doc_id)
        except NotFound:
            return
        await self.cache.invalidate(kind, doc_id)

    async def resolve_artists(self, names: list[str], owner_id: str | None) -> dict[str, Doc]:
        """Many artists by name at once (for scans): {name_key: doc}, unknown ones created."""
        found, created = await self.artists.find_or_create_many(names, owner_id)
        for doc in created:
            await self.library("artist", doc["_id"], "created")
        return found

    # -- albums ----------------------------------------------------------------------------------

    async def create_album(self, principal: Principal, title: str, artist_id: str, year: int | None) -> Doc:
        self._check_owner(principal, await self.artist_doc(artist_id), "artist")
        doc = await self.albums.create(
            title=title, artist_id=artist_id, release_year=year, owner_ids=[principal.user_id]
        )
        await self.library("album", doc["_id"], "created")
        return doc

    async def update_album(self, principal: Principal, album_id: str, changes: Doc) -> Doc:
        await self._check_album_owner(principal, await self.album_doc(album_id))
        doc = await self.albums.update(album_id, changes)
        await self.cache.invalidate("album", album_id)
        await self.library("album", album_id, "updated")
        return doc

    async def delete_album(self, principal: Principal, album_id: str) -> None:
        """Delete an album; its tracks stay, without an album."""
        await self._check_album_owner(principal, await self.album_doc(album_id))
        await self.albums.delete(album_id)
        track_ids = await self.tracks.ids_where({"album_id": album_id})
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
    ) -> tuple[Doc, bool]:
        """The album ``title`` of ``artist_id``, created if unknown: (doc, created); nothing announced."""
        return await self.albums.find_or_create(title, artist_id, year, owner_id)

    async def resolve_albums(
        self, wanted: list[tuple[str, str, int | None]], owner_id: str | None
    ) -> dict[tuple[str, str], Doc]:
        """Many (title, artist id, year) at once: {(artist id, title_key): doc}, unknown ones created."""
        found, created = await self.albums.find_or_create_many(wanted, owner_id)
        for doc in created:
            await self.library("album", doc["_id"], "created")
        return found

    async def _check_album_owner(self, principal: Principal, album: Doc) -> None:
        artist = await self.cache.get(
            "artist", album["artist_id"], lambda: self.artists.find(album["artist_id"])
        )
        self._check_owner(principal, album, "album", extra_owners=(artist or {}).get("owner_ids", []))

    # -- tracks ----------------------------------------------------------------------------------

    async def update_track(self, principal: Principal, track_id: str, changes: Doc) -> Track:
        track = await self.visible_track(principal, track_id)
        self.check_track_owner(principal, track)
        for required in ("title", "artist_id"):
            if required in changes and changes[required] is None:
                raise Invalid(details={"fields": {required: "must not be null"}})
        artist_id = changes.get("artist_id", track.artist_id)
        if "artist_id" in changes and artist_id != track.artist_id:
            self.check_publish(principal, await self.artist_doc(artist_id))
        album_id = changes.get("album_id", track.album_id)
        if album_id and (await self.album_doc(album_id))["artist_id"] != artist_id:
            raise Invalid(
                "The album belongs to another artist.",
                code="album_artist_mismatch",
                details={"fields": {"album_id": "belongs to another artist"}},
            )
        doc = await self.tracks.update(track_id, changes)
        await self.cache.invalidate("track", track_id)
        if self.loudness is not None and doc.get("album_id") != track.album_id:
            await self.loudness.detach([track_id])
            for changed in (track.album_id, doc.get("album_id")):
                await self.loudness.refresh(changed)
            doc = await self.track_doc(track_id)  # with the album figures just written
        await self.library("track", track_id, "updated")
        return Track.from_doc(doc)

    async def delete_track(self, principal: Principal, track_id: str) -> None:
        """Delete a track with its renditions and cover, and its original when it was uploaded.

        A scanned original belongs to the library on disk and is left where it is.
        """
        track = await self.visible_track(principal, track_id)
        self.check_track_owner(principal, track)
        doc = await self.tracks.delete(track_id)
        await self.cache.invalidate("track", track_id)
        await self.remove_media(doc["_id"])
        if self.lyrics is not None:
            await self.lyrics.delete(track_id)
        if self.loudness is not None:
            await self.loudness.forget(track_id)
            await self.loudness.refresh(track.album_id)
        await self.library("track", track_id, "deleted")

    async def remove_media(self, track_id: str) -> None:
        """Delete what is stored for a track (original, ladder, cover), wherever media lives."""
        if self.bucket is not None:
            await remove_track_objects(self.bucket, track_id)
        else:
            await asyncio.to_thread(self.layout.remove_track, track_id)

    async def track_status(self, doc: Doc) -> None:
        """Tell the uploader's devices where their track stands."""
        if doc.get("owner_id"):
            payload = {
                "id": doc["_id"],
                "status": doc["status"],
                "progress": int(doc.get("progress") or 0),
                "error": doc.get("error"),
            }
            await self.events.publish(TRACK, payload, user_id=doc["owner_id"])

    async def library(self, kind: str, doc_id: str, action: str) -> None:
        await self.events.publish(LIBRARY, {"kind": kind, "id": doc_id, "action": action})
