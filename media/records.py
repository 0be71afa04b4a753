"""Typed records of what crosses module boundaries, shared by the server and the transcoder.

A record is built from a stored document by :meth:`from_doc` (which validates it) and turned back into
one by :meth:`to_doc`. Stores validate every write through these before it reaches the database, so a
value that breaks a record (a null title, an unknown status, a negative duration) is refused at the
boundary instead of being saved and breaking every later read. The track status transitions live here
too, beside the record they belong to.

Records know nothing of HTTP: an invalid one raises :class:`InvalidRecord` (a ``ValueError``) naming
its fields; the server maps it to a 400 in ``server.errors``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, get_args

from media.gapless import Gapless

TrackStatus = Literal["processing", "ready", "failed"]
TRACK_STATUSES: frozenset[str] = frozenset(get_args(TrackStatus))
TRANSITIONS: dict[str, frozenset[str]] = {
    # A transcode ends ready or failed; a job taken over (or queued again by the sweep) stays processing.
    "processing": frozenset({"processing", "ready", "failed"}),
    # A retried job, a re-analysis or a replaced original transcodes again.
    "ready": frozenset({"processing"}),
    "failed": frozenset({"processing"}),
}
"""Which status a track may move to from each status."""

TITLE_MAX = 200
ID_MAX = 64


class InvalidRecord(ValueError):
    """A record (or a change to one) that breaks its rules; ``fields`` says which and why."""

    def __init__(self, kind: str, problems: dict[str, str]) -> None:
        super().__init__(f"invalid {kind}: " + "; ".join(f"{k} {v}" for k, v in problems.items()))
        self.kind = kind
        self.fields = problems


def check_transition(old: str, new: str) -> None:
    """:class:`InvalidRecord` unless a track may go from status ``old`` to ``new``."""
    if new not in TRANSITIONS.get(old, frozenset()):
        raise InvalidRecord("track", {"status": f"cannot go from {old} to {new}"})


def _text(value: Any, *, required: bool, max_len: int) -> str | None:
    if value is None:
        if required:
            raise ValueError("must not be null")
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if required and not value.strip():
        raise ValueError("must not be empty")
    if len(value) > max_len:
        raise ValueError(f"must be at most {max_len} characters")
    return value


def _count(value: Any, *, low: int = 0, high: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    if value < low or (high is not None and value > high):
        raise ValueError(
            f"must be between {low} and {high}" if high is not None else f"must be at least {low}"
        )
    return value


# The rules of each track field a write may set: value → value, or ValueError with the reason.
_TRACK_RULES: dict[str, Any] = {
    "title": lambda v: _text(v, required=True, max_len=4 * TITLE_MAX),
    "artist_id": lambda v: _text(v, required=True, max_len=ID_MAX),
    "album_id": lambda v: _text(v, required=False, max_len=ID_MAX),
    "owner_id": lambda v: _text(v, required=False, max_len=ID_MAX),
    "genre": lambda v: _text(v, required=False, max_len=400),
    "status": lambda v: _status(v),
    "error": lambda v: _text(v, required=False, max_len=2000),
    "duration_ms": lambda v: _count(v),
    "track_no": lambda v: _count(v, low=1, high=9999),
    "release_year": lambda v: _count(v, low=1000, high=9999),
    "play_count": lambda v: _count(v),
    "progress": lambda v: _count(v, low=0, high=100),
}


def _status(value: Any) -> str:
    if not isinstance(value, str) or value not in TRACK_STATUSES:
        raise ValueError(f"must be one of {', '.join(sorted(TRACK_STATUSES))}")
    return value


_ARTIST_RULES: dict[str, Any] = {
    "name": lambda v: _text(v, required=True, max_len=4 * TITLE_MAX),
    "bio": lambda v: _text(v, required=False, max_len=20_000),
    "owner_ids": lambda v: _ids(v),
}
_ALBUM_RULES: dict[str, Any] = {
    "title": lambda v: _text(v, required=True, max_len=4 * TITLE_MAX),
    "artist_id": lambda v: _text(v, required=True, max_len=ID_MAX),
    "release_year": lambda v: _count(v, low=1000, high=9999),
    "owner_ids": lambda v: _ids(v),
}


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(i, str) and i for i in value):
        raise ValueError("must be a list of ids")
    return value


def _check(kind: str, rules: dict[str, Any], changes: dict[str, Any]) -> None:
    problems: dict[str, str] = {}
    for name, value in changes.items():
        rule = rules.get(name)
        if rule is None:
            continue
        try:
            rule(value)
        except ValueError as exc:
            problems[name] = str(exc)
    if problems:
        raise InvalidRecord(kind, problems)


def check_track_changes(changes: dict[str, Any]) -> None:
    """:class:`InvalidRecord` if any field ``changes`` sets breaks the track's rules."""
    _check("track", _TRACK_RULES, changes)


def check_artist_changes(changes: dict[str, Any]) -> None:
    """:class:`InvalidRecord` if any field ``changes`` sets breaks the artist's rules."""
    _check("artist", _ARTIST_RULES, changes)


def check_album_changes(changes: dict[str, Any]) -> None:
    """:class:`InvalidRecord` if any field ``changes`` sets breaks the album's rules."""
    _check("album", _ALBUM_RULES, changes)


@dataclass(frozen=True, slots=True)
class Artist:
    """An artist profile; ``owner_ids`` are the users who may manage it and publish under it."""

    id: str
    name: str
    bio: str | None = None
    owner_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Artist:
        check_artist_changes({"name": doc.get("name"), **doc})
        return cls(
            id=doc["_id"],
            name=doc["name"],
            bio=doc.get("bio"),
            owner_ids=tuple(doc.get("owner_ids") or ()),
            created_at=doc.get("created_at"),
            updated_at=doc.get("updated_at"),
        )

    def to_doc(self) -> dict[str, Any]:
        """The stored fields the record carries (the store adds its sort key): ``from_doc`` reads it back."""
        return {
            "_id": self.id,
            "name": self.name,
            "bio": self.bio,
            "owner_ids": list(self.owner_ids),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Album:
    """An album of one artist; ``owner_ids`` manage it (besides the artist's own owners)."""

    id: str
    title: str
    artist_id: str
    release_year: int | None = None
    owner_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Album:
        check_album_changes({"title": doc.get("title"), "artist_id": doc.get("artist_id"), **doc})
        return cls(
            id=doc["_id"],
            title=doc["title"],
            artist_id=doc["artist_id"],
            release_year=doc.get("release_year"),
            owner_ids=tuple(doc.get("owner_ids") or ()),
            created_at=doc.get("created_at"),
            updated_at=doc.get("updated_at"),
        )

    def to_doc(self) -> dict[str, Any]:
        """The stored fields the record carries (the store adds its title key): ``from_doc`` reads it back."""
        return {
            "_id": self.id,
            "title": self.title,
            "artist_id": self.artist_id,
            "release_year": self.release_year,
            "owner_ids": list(self.owner_ids),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Original:
    """The file a track was made from: under the media root (uploads) or in place (scans)."""

    path: str = ""
    """Empty when the document's view leaves it out (search keeps only ``source``)."""
    format: str | None = None
    codec: str | None = None
    mime: str | None = None
    size: int | None = None
    sha256: str | None = None
    source: Literal["upload", "scan"] | None = None
    mtime_ns: int | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Original | None:
        if not doc:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    @property
    def in_place(self) -> bool:
        """A scanned file referenced where it lies (an absolute path the catalog chose)."""
        return self.path.startswith("/")

    @property
    def has_file(self) -> bool:
        return bool(self.path)


@dataclass(frozen=True, slots=True)
class Loudness:
    """EBU R128 figures and ReplayGain 2.0 gains (``media.loudness``); the album fields once every
    track of the track's album is ready."""

    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    range_lu: float | None = None
    track_gain_db: float | None = None
    album_gain_db: float | None = None
    album_true_peak_dbtp: float | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Loudness | None:
        if not doc:
            return None
        return cls(**{name: doc.get(name) for name in _LOUDNESS_FIELDS})


_LOUDNESS_FIELDS = tuple(f.name for f in fields(Loudness))


@dataclass(frozen=True, slots=True)
class Rendition:
    name: str
    codec: str
    bitrate: int
    average_bandwidth: int | None = None
    peak_bandwidth: int | None = None


_RENDITION_FIELDS = ("name", "codec", "bitrate", "average_bandwidth", "peak_bandwidth")
_STRUCTURED = frozenset({"_id", "original", "renditions", "loudness", "gapless"})


@dataclass(frozen=True, slots=True)
class Track:
    """One track as every module sees it; built from (and checked against) its stored document."""

    id: str
    title: str
    artist_id: str
    status: TrackStatus
    album_id: str | None = None
    owner_id: str | None = None
    duration_ms: int | None = None
    genre: str | None = None
    track_no: int | None = None
    release_year: int | None = None
    play_count: int = 0
    error: str | None = None
    progress: int = 0
    original: Original | None = None
    renditions: tuple[Rendition, ...] = ()
    loudness: Loudness | None = None
    gapless: Gapless | None = None
    cover: str | None = None
    missing: bool = False
    """A scanned file that is no longer at its path."""
    on_play: bool = False
    """A scanned file whose ladder is made when it is played (``media.onplay``), not transcoded ahead."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Catalog-only fields (sort keys, scan bookkeeping, loudness) the record carries through as they are."""

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Track:
        """The record of a stored track; :class:`InvalidRecord` if the document breaks its rules."""
        # Required fields are checked even when absent; "status" last, so a missing one is refused.
        check_track_changes(
            {"title": doc.get("title"), "artist_id": doc.get("artist_id"), **doc, "status": doc.get("status")}
        )
        return cls.from_checked_doc(doc)

    @classmethod
    def from_checked_doc(cls, doc: dict[str, Any]) -> Track:
        """The record of a document whose rules were already checked by :meth:`from_doc` (the
        library index takes no track that fails it): built without checking again, for listing
        pages of hundreds of tracks, where the checks were half the cost."""
        simple = _TRACK_SIMPLE
        renditions = tuple(
            Rendition(**{k: r.get(k) for k in _RENDITION_FIELDS}) for r in doc.get("renditions") or ()
        )
        return cls(
            id=doc["_id"],
            original=Original.from_doc(doc.get("original")),
            renditions=renditions,
            loudness=Loudness.from_doc(doc.get("loudness")),
            gapless=Gapless.from_doc(doc.get("gapless")),
            extra={k: v for k, v in doc.items() if k not in simple and k not in _STRUCTURED},
            **{k: doc[k] for k in simple if doc.get(k) is not None},
        )

    def to_doc(self) -> dict[str, Any]:
        """The document this record was read from (``extra`` included): ``from_checked_doc`` reads it back."""
        doc: dict[str, Any] = {
            **self.extra,
            **{name: getattr(self, name) for name in _TRACK_SIMPLE},
            "_id": self.id,
            "original": asdict(self.original) if self.original else None,
            "renditions": [asdict(r) for r in self.renditions],
            "loudness": asdict(self.loudness) if self.loudness else None,
            "gapless": self.gapless.as_dict() if self.gapless else None,
        }
        return doc

    @property
    def playable(self) -> bool:
        """Ready, and its file still there (a scanned file that vanished is not offered)."""
        return self.status == "ready" and not self.missing

    @property
    def source(self) -> Literal["upload", "scan"] | None:
        return self.original.source if self.original else None

    def visible_to(self, user_id: str, *, admin: bool) -> bool:
        """The visibility rule: playable tracks for everyone; others (processing, failed, a scanned file
        that vanished) for their uploader and admins."""
        return self.playable or admin or (self.owner_id is not None and self.owner_id == user_id)


_TRACK_SIMPLE = frozenset(f.name for f in fields(Track)) - {
    "id",
    "original",
    "renditions",
    "loudness",
    "gapless",
    "extra",
}
"""Fields a track document holds as they are (computed once: ``fields()`` is slow per document)."""


JobState = Literal["queued", "running", "done", "failed"]
JOB_STATES: frozenset[str] = frozenset(get_args(JobState))


@dataclass(frozen=True, slots=True)
class Playlist:
    """A user's playlist: ``track_ids`` in order, repeats allowed; ``version`` counts the changes to
    them (an edit that depends on positions applies only to the version it read)."""

    id: str
    user_id: str
    name: str
    description: str | None
    is_public: bool
    track_ids: tuple[str, ...]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Playlist:
        return cls(
            id=doc["_id"],
            user_id=doc["user_id"],
            name=doc["name"],
            description=doc.get("description"),
            is_public=bool(doc.get("is_public")),
            track_ids=tuple(doc.get("track_ids") or ()),
            version=int(doc.get("version") or 0),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Listen:
    """One listen of a track by a user: how long it was heard, and whether it counted as a play."""

    id: str
    user_id: str
    track_id: str
    played_at: datetime
    ms_played: int
    device: str | None
    counted: bool

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Listen:
        return cls(
            id=doc["_id"],
            user_id=doc["user_id"],
            track_id=doc["track_id"],
            played_at=doc["played_at"],
            ms_played=int(doc.get("ms_played") or 0),
            device=doc.get("device"),
            counted=bool(doc.get("counted")),
        )


@dataclass(frozen=True, slots=True)
class Mark:
    """A user's star and rating of one song, album or artist."""

    user_id: str
    item_id: str
    kind: Literal["song", "album", "artist"]
    starred_at: datetime | None = None
    rating: int | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Mark:
        return cls(
            user_id=doc["user_id"],
            item_id=doc["item_id"],
            kind=doc["kind"],
            starred_at=doc.get("starred_at"),
            rating=doc.get("rating"),
        )


@dataclass(frozen=True, slots=True)
class Login:
    """One sign-in of a user on one device: the hash of its current refresh token, the hashes it
    rotated away from (a replay of one ends the sign-in), and when it expires."""

    id: str
    user_id: str
    refresh_hash: str
    previous_hashes: tuple[str, ...]
    device: str
    revoked: bool
    created_at: datetime
    expires_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Login:
        return cls(
            id=doc["_id"],
            user_id=doc["user_id"],
            refresh_hash=doc["refresh_hash"],
            previous_hashes=tuple(doc.get("previous_hashes") or ()),
            device=doc.get("device") or "",
            revoked=bool(doc.get("revoked")),
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
        )

    def active(self, now: datetime) -> bool:
        return not self.revoked and self.expires_at > now


@dataclass(frozen=True, slots=True)
class Job:
    """The durable record of one transcode (``transcoder/jobs.py`` keeps them; the server lists them).

    Its transitions are made by the job store, each naming the state it expects (see there).
    """

    id: str
    track_id: str
    state: JobState
    attempts: int = 0
    max_attempts: int = 0
    error: str | None = None
    worker_id: str | None = None
    message_id: str | None = None
    next_attempt_at: datetime | None = None
    elapsed_s: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    refresh: bool = False
    """Transcode a ``ready`` track again in place (a re-analysis): it stays playable throughout, the
    new ladder replaces the old one whole, and a failure leaves the track as it was."""

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Job:
        problems: dict[str, str] = {}
        if doc.get("state") not in JOB_STATES:
            problems["state"] = f"must be one of {', '.join(sorted(JOB_STATES))}"
        if not isinstance(doc.get("track_id"), str) or not doc["track_id"]:
            problems["track_id"] = "must be a track id"
        if problems:
            raise InvalidRecord("job", problems)
        names = {f.name for f in fields(cls)} - {"id"}
        return cls(id=doc["_id"], **{k: doc[k] for k in names if doc.get(k) is not None})


ROLES: tuple[str, ...] = ("listener", "artist", "admin")


def _roles(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or any(r not in ROLES for r in value):
        raise ValueError(f"must be a non-empty list of {', '.join(ROLES)}")
    return value


_USER_RULES: dict[str, Any] = {
    "username": lambda v: _text(v, required=True, max_len=64),
    "email": lambda v: _text(v, required=True, max_len=320),
    "roles": _roles,
    "password_hash": lambda v: _text(v, required=True, max_len=1024),
}


def check_user_changes(changes: dict[str, Any]) -> None:
    """:class:`InvalidRecord` if any field ``changes`` sets breaks the user's rules."""
    _check("user", _USER_RULES, changes)


@dataclass(frozen=True, slots=True)
class User:
    """An account. ``password_hash`` is carried for the sign-in check only and never shown."""

    id: str
    username: str
    email: str
    roles: tuple[str, ...]
    disabled: bool = False
    password_hash: str = field(default="", repr=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> User:
        check_user_changes({"username": doc.get("username"), "email": doc.get("email"), **doc})
        roles = doc["roles"]
        return cls(
            id=doc["_id"],
            username=doc["username"],
            email=doc["email"],
            roles=tuple(roles),
            disabled=bool(doc.get("disabled")),
            password_hash=doc.get("password_hash") or "",
            created_at=doc.get("created_at"),
            updated_at=doc.get("updated_at"),
        )

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles
