"""Catalog payloads of the public API (API.md: Artists, Albums, Tracks, Upload)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from server.catalog.names import BIO_MAX, GENRE_MAX, NAME_MAX, TITLE_MAX, clean_name, clean_text
from server.timestamps import Timestamp

TrackStatus = Literal["processing", "ready", "failed"]


def _required_name(max_len: int):
    def check(value: str) -> str:
        cleaned = clean_name(value, max_len)
        if cleaned is None:
            raise ValueError("must not be empty")
        return cleaned

    return AfterValidator(check)


def _optional_name(max_len: int):
    return AfterValidator(lambda value: clean_name(value, max_len) if value is not None else None)


Title = Annotated[str, Field(max_length=4 * TITLE_MAX), _required_name(TITLE_MAX)]
Name = Annotated[str, Field(max_length=4 * NAME_MAX), _required_name(NAME_MAX)]
Genre = Annotated[str | None, Field(max_length=4 * GENRE_MAX), _optional_name(GENRE_MAX)]
Bio = Annotated[str | None, Field(max_length=4 * BIO_MAX), AfterValidator(clean_text)]
Year = Annotated[int, Field(ge=1000, le=9999)]
TrackNo = Annotated[int, Field(ge=1, le=9999)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


NEXT_CURSOR = "Pass as `cursor` for the page after this one (same sort and filters); null on the last page."
CURSOR = "Go on after the page that returned this `next_cursor` (instead of `offset`: as fast at any depth)."


class Strict(BaseModel):
    """Unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


# -- artists -------------------------------------------------------------------------------------


class ArtistOut(BaseModel):
    id: str
    name: str
    bio: str | None
    image_url: str | None
    owner_ids: list[str]
    created_at: Timestamp
    updated_at: Timestamp


class ArtistList(BaseModel):
    items: list[ArtistOut]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


class ArtistIn(Strict):
    name: Name
    bio: Bio = None


# In the patches below a required field may be left out (the default, never validated) but not sent as
# null: pydantic refuses ``null`` for a non-optional type, so a PATCH can never store a missing name.
# The schema then shows no default (a null default would contradict the field's own type).
def _no_default(schema: dict) -> None:
    schema.pop("default", None)


NOT_NULL = Field(default=None, json_schema_extra=_no_default)


class ArtistPatch(Strict):
    name: Name = NOT_NULL
    bio: Bio = None


class ArtistQuery(Strict):
    q: str | None = Field(
        None,
        max_length=200,
        # No control characters: they name nothing, and a NUL is not a valid regular expression.
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Name prefix, case-insensitive.",
    )
    mine: bool = Field(False, description="Only the profiles the caller manages.")
    sort: Literal["name", "-name", "created_at", "-created_at"] = "name"
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)
    cursor: str | None = Field(None, max_length=1000, description=CURSOR)


# -- tracks --------------------------------------------------------------------------------------


class Rendition(BaseModel):
    name: str
    codec: str
    bitrate: int
    average_bandwidth: int | None = None
    peak_bandwidth: int | None = None


class LoudnessOut(BaseModel):
    """EBU R128 figures of the track, and ReplayGain 2.0 gains (reference -18 LUFS). The album fields
    appear once every track of the album is ready; the album's loudness is measured as one programme."""

    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    range_lu: float | None = None
    track_gain_db: float | None = None
    album_gain_db: float | None = None
    album_true_peak_dbtp: float | None = None


class GaplessOut(BaseModel):
    """Samples the AAC renditions hold around the music, per channel: ``priming_samples`` before it,
    ``padding_samples`` after it, ``source_samples`` of music. Each rung's init segment signals the same
    in its edit list; a player that trims them plays an album without gaps."""

    sample_rate: int
    priming_samples: int
    padding_samples: int
    source_samples: int


class TrackOut(BaseModel):
    id: str
    title: str
    artist_id: str
    artist_name: str | None
    album_id: str | None
    album_title: str | None
    duration_ms: int | None
    genre: str | None
    track_no: int | None
    release_year: int | None
    play_count: int
    status: TrackStatus
    error: str | None
    progress: int
    cover_url: str | None
    owner_id: str | None
    source: Literal["upload", "scan"] | None
    missing: bool = Field(False, description="A scanned file that is no longer at its path.")
    loudness: LoudnessOut | None
    gapless: GaplessOut | None = None
    renditions: list[Rendition]
    created_at: Timestamp
    updated_at: Timestamp


class TrackList(BaseModel):
    items: list[TrackOut]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


class TrackQuery(Strict):
    artist_id: Id | None = None
    album_id: Id | None = None
    genre: str | None = Field(None, max_length=4 * GENRE_MAX)
    status: TrackStatus | None = None
    sort: Literal[
        "title",
        "-title",
        "created_at",
        "-created_at",
        "play_count",
        "-play_count",
        "duration_ms",
        "-duration_ms",
        "release_year",
        "-release_year",
        "track_no",
        "-track_no",
    ] = "-created_at"
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)
    cursor: str | None = Field(None, max_length=1000, description=CURSOR)


class TrackPatch(Strict):
    """Set a field to null to clear it (album_id, genre, track_no, release_year)."""

    title: Title = NOT_NULL
    artist_id: Id = NOT_NULL
    album_id: Id | None = None
    genre: Genre = None
    track_no: TrackNo | None = None
    release_year: Year | None = None


class UploadFields(Strict):
    """The optional text fields of an upload; each wins over the file's own tag."""

    title: Annotated[str | None, Field(max_length=4 * TITLE_MAX), _optional_name(TITLE_MAX)] = None
    artist: Annotated[str | None, Field(max_length=4 * NAME_MAX), _optional_name(NAME_MAX)] = None
    album: Annotated[str | None, Field(max_length=4 * TITLE_MAX), _optional_name(TITLE_MAX)] = None
    genre: Genre = None
    release_year: Year | None = None
    track_no: TrackNo | None = None
    allow_duplicate: bool = False
    """Upload even when the same file (by SHA-256) is already one of your tracks."""


# -- albums --------------------------------------------------------------------------------------


class AlbumOut(BaseModel):
    id: str
    title: str
    artist_id: str
    artist_name: str | None
    release_year: int | None
    cover_url: str | None
    owner_ids: list[str]
    created_at: Timestamp
    updated_at: Timestamp


class AlbumDetail(AlbumOut):
    artist: ArtistOut | None
    tracks: list[TrackOut]


class AlbumList(BaseModel):
    items: list[AlbumOut]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


class AlbumIn(Strict):
    title: Title
    artist_id: Id
    release_year: Year | None = None


class AlbumPatch(Strict):
    title: Title = NOT_NULL
    release_year: Year | None = None


class AlbumQuery(Strict):
    artist_id: Id | None = None
    sort: Literal["title", "-title", "release_year", "-release_year", "created_at", "-created_at"] = "title"
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)
    cursor: str | None = Field(None, max_length=1000, description=CURSOR)


class SkippedFile(BaseModel):
    path: str
    reason: str


class ScanSummaryOut(BaseModel):
    found: int
    added: int
    updated: int
    unchanged: int
    missing: int
    restored: int
    skipped: int
    skipped_files: list[SkippedFile]
    queued: int
    elapsed_ms: int


class ScanOut(BaseModel):
    id: str
    path: str
    state: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    progress: int
    """0-100"""
    files_per_second: float | None = None
    """Files handled per second since the scan began walking them (unchanged files count at once)."""
    eta_seconds: int | None = None
    """Seconds left at that pace; 0 when done."""
    summary: ScanSummaryOut | None
    error: str | None
    started_by: str
    started_at: str
    finished_at: str | None
