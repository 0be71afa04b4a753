"""HLS playlist text: parse and write media and master playlists (the subset a VOD audio ladder uses).

Pure functions over dataclasses, plus two small blocking file helpers. Measuring and validating a
ladder on disk is :mod:`media.hls`.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from media.errors import PlaylistError

_ATTR_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_EXTM3U = "#EXTM3U"


@dataclass(frozen=True, slots=True)
class Segment:
    uri: str
    duration: float


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """A media playlist as far as a VOD audio ladder needs it. Missing tags are None / False."""

    segments: tuple[Segment, ...]
    target_duration: int | None = None
    version: int | None = None
    media_sequence: int = 0
    playlist_type: str | None = None
    map_uri: str | None = None
    independent_segments: bool = False
    endlist: bool = False

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def with_map(self, uri: str) -> MediaPlaylist:
        return replace(self, map_uri=uri)


@dataclass(frozen=True, slots=True)
class Variant:
    uri: str
    bandwidth: int | None
    average_bandwidth: int | None = None
    codecs: str | None = None


@dataclass(frozen=True, slots=True)
class MasterPlaylist:
    variants: tuple[Variant, ...]
    version: int | None = None
    independent_segments: bool = False
    session_data: tuple[tuple[str, str], ...] = ()
    """``EXT-X-SESSION-DATA`` (RFC 8216 §4.3.4.4) as (DATA-ID, VALUE) pairs, in order."""


def _lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    lines = [line for line in lines if line]
    if not lines or lines[0] != _EXTM3U:
        raise PlaylistError("the playlist does not start with #EXTM3U")
    return lines


def _attributes(text: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in _ATTR_RE.findall(text)}


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PlaylistError(f"{what} is not an integer: {value!r}") from None


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parse a media playlist; :class:`PlaylistError` when it is not one."""
    lines = _lines(text)
    fields: dict[str, object] = {}
    segments: list[Segment] = []
    pending: float | None = None
    for line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXTINF":
            try:
                pending = float(value.split(",", 1)[0])
            except ValueError:
                raise PlaylistError(f"bad EXTINF duration: {line!r}") from None
            if not math.isfinite(pending) or pending < 0:
                raise PlaylistError(f"bad EXTINF duration: {line!r}")
        elif tag == "#EXT-X-TARGETDURATION":
            fields["target_duration"] = _int(value, "TARGETDURATION")
        elif tag == "#EXT-X-VERSION":
            fields["version"] = _int(value, "EXT-X-VERSION")
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            fields["media_sequence"] = _int(value, "MEDIA-SEQUENCE")
        elif tag == "#EXT-X-PLAYLIST-TYPE":
            fields["playlist_type"] = value
        elif tag == "#EXT-X-MAP":
            fields["map_uri"] = _attributes(value).get("URI")
        elif tag == "#EXT-X-INDEPENDENT-SEGMENTS":
            fields["independent_segments"] = True
        elif tag == "#EXT-X-ENDLIST":
            fields["endlist"] = True
        elif tag == "#EXT-X-STREAM-INF":
            raise PlaylistError("this is a master playlist, not a media playlist")
        elif not line.startswith("#"):
            if pending is None:
                raise PlaylistError(f"segment {line!r} has no EXTINF")
            segments.append(Segment(line, pending))
            pending = None
    return MediaPlaylist(segments=tuple(segments), **fields)  # type: ignore[arg-type]


def render_media_playlist(playlist: MediaPlaylist) -> str:
    """Write a media playlist. TARGETDURATION is recomputed so every EXTINF, rounded, fits under it."""
    target = max([round_half_up(s.duration) for s in playlist.segments] + [playlist.target_duration or 1])
    out = [
        _EXTM3U,
        f"#EXT-X-VERSION:{playlist.version or 7}",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{playlist.media_sequence}",
    ]
    if playlist.playlist_type:
        out.append(f"#EXT-X-PLAYLIST-TYPE:{playlist.playlist_type}")
    if playlist.independent_segments:
        out.append("#EXT-X-INDEPENDENT-SEGMENTS")
    if playlist.map_uri:
        out.append(f'#EXT-X-MAP:URI="{playlist.map_uri}"')
    for segment in playlist.segments:
        out += [f"#EXTINF:{segment.duration:.6f},", segment.uri]
    if playlist.endlist:
        out.append("#EXT-X-ENDLIST")
    return "\n".join(out) + "\n"


def parse_master_playlist(text: str) -> MasterPlaylist:
    """Parse a master playlist; :class:`PlaylistError` when it is not one."""
    lines = _lines(text)
    variants: list[Variant] = []
    version: int | None = None
    independent = False
    session: list[tuple[str, str]] = []
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-SESSION-DATA":
            attrs = _attributes(value)
            if "DATA-ID" in attrs and "VALUE" in attrs:
                session.append((attrs["DATA-ID"], attrs["VALUE"]))
        elif tag == "#EXT-X-STREAM-INF":
            pending = _attributes(value)
        elif tag == "#EXT-X-VERSION":
            version = _int(value, "EXT-X-VERSION")
        elif tag == "#EXT-X-INDEPENDENT-SEGMENTS":
            independent = True
        elif tag in ("#EXTINF", "#EXT-X-TARGETDURATION"):
            raise PlaylistError("this is a media playlist, not a master playlist")
        elif not line.startswith("#") and pending is not None:
            bandwidth, average = pending.get("BANDWIDTH"), pending.get("AVERAGE-BANDWIDTH")
            variants.append(
                Variant(
                    uri=line,
                    bandwidth=_int(bandwidth, "BANDWIDTH") if bandwidth is not None else None,
                    average_bandwidth=_int(average, "AVERAGE-BANDWIDTH") if average is not None else None,
                    codecs=pending.get("CODECS"),
                )
            )
            pending = None
    return MasterPlaylist(tuple(variants), version, independent, tuple(session))


def render_master_playlist(master: MasterPlaylist) -> str:
    out = [_EXTM3U, f"#EXT-X-VERSION:{master.version or 7}"]
    if master.independent_segments:
        out.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for data_id, value in master.session_data:
        out.append(f'#EXT-X-SESSION-DATA:DATA-ID="{data_id}",VALUE="{value}"')
    for v in master.variants:
        attrs = [f"BANDWIDTH={v.bandwidth}"]
        if v.average_bandwidth is not None:
            attrs.append(f"AVERAGE-BANDWIDTH={v.average_bandwidth}")
        if v.codecs:
            attrs.append(f'CODECS="{v.codecs}"')
        out += [f"#EXT-X-STREAM-INF:{','.join(attrs)}", v.uri]
    return "\n".join(out) + "\n"


def round_half_up(value: float) -> int:
    # The RFC's "rounded to the nearest integer"; Python's round() would send 6.5 to 6.
    return math.floor(value + 0.5)


def read_media_playlist(path: Path) -> MediaPlaylist:
    try:
        return parse_media_playlist(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        raise PlaylistError(f"{path.name} is missing") from None


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temp file and ``os.replace`` so a reader never sees half a playlist."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
