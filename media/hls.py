"""HLS playlists: parse and write media/master playlists, measure renditions, validate a whole ladder.

Bandwidth follows RFC 8216 (and its successor draft, rfc8216bis §4.1):
- segment bit rate = segment size * 8 / EXTINF duration;
- **peak** (what BANDWIDTH declares) = the largest bit rate of any run of consecutive segments whose
  total duration lies between 0.5 and 1.5 * TARGETDURATION (a run's rate is its bytes over its
  duration). A playlist shorter than half the target has no such run; its whole length is used;
- **average** (AVERAGE-BANDWIDTH) = all segment bytes * 8 / playlist duration.

The init segment (EXT-X-MAP) is not counted in either: a client fetches it once per rendition switch,
not once per segment, and the RFC's definitions are over media segments. It is ~1 KB, i.e. under
0.2 % of one 6-second segment at 64 kbit/s, so counting it would not change a declared value anyway.

ffmpeg 5.1's own master playlist declares BANDWIDTH = nominal bitrate * 1.1 and no AVERAGE-BANDWIDTH;
:func:`write_master` replaces it with measured values, which :func:`validate_ladder` then checks the
way a validator (Apple's mediastreamvalidator) would.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from media.errors import PlaylistError
from media.ladder import AAC_LC_CODEC
from media.layout import INIT_SEGMENT, MASTER_PLAYLIST, MEDIA_PLAYLIST, SAFE_COMPONENT_RE
from media.playlists import (
    MasterPlaylist,
    MediaPlaylist,
    Variant,
    parse_master_playlist,
    parse_media_playlist,
    read_media_playlist,
    render_master_playlist,
    render_media_playlist,
    round_half_up,
    write_text_atomic,
)

BANDWIDTH_TOLERANCE = 0.10
"""How far above the measured value a declared bandwidth may be (and, for the average, below)."""


@dataclass(frozen=True, slots=True)
class RenditionStats:
    """Measurements of one rendition on disk (bit/s are rounded up: a declaration must not undershoot)."""

    name: str
    segment_count: int
    duration_s: float
    total_bytes: int
    init_bytes: int
    average_bandwidth: int
    peak_bandwidth: int


# --- measuring -----------------------------------------------------------------------------------


def peak_bitrate(sizes: Sequence[int], durations: Sequence[float], target_duration: float) -> float:
    """Peak bit rate (bit/s) over runs of segments lasting 0.5-1.5 * ``target_duration`` (see module doc)."""
    if len(sizes) != len(durations):
        raise ValueError("sizes and durations differ in length")
    total = sum(durations)
    if total <= 0:
        return 0.0
    low, high, eps = 0.5 * target_duration, 1.5 * target_duration, 1e-9
    peak = -1.0
    for start in range(len(sizes)):
        run_bytes, run_seconds = 0, 0.0
        for end in range(start, len(sizes)):
            run_bytes += sizes[end]
            run_seconds += durations[end]
            if run_seconds > high + eps:
                break
            if run_seconds >= low - eps:
                peak = max(peak, run_bytes * 8 / run_seconds)
    return peak if peak >= 0 else sum(sizes) * 8 / total


def measure_rendition(rung_dir: Path, playlist: MediaPlaylist | None = None) -> RenditionStats:
    """Measure the rendition in ``rung_dir`` (its ``index.m3u8`` unless ``playlist`` is given). Blocking."""
    playlist = playlist or read_media_playlist(rung_dir / MEDIA_PLAYLIST)
    if not playlist.segments:
        raise PlaylistError(f"{rung_dir.name}: the playlist has no segments")
    sizes = [(rung_dir / s.uri).stat().st_size for s in playlist.segments]
    durations = [s.duration for s in playlist.segments]
    init_bytes = (rung_dir / playlist.map_uri).stat().st_size if playlist.map_uri else 0
    duration = sum(durations)
    target = playlist.target_duration or max(round_half_up(d) for d in durations)
    return RenditionStats(
        name=rung_dir.name,
        segment_count=len(sizes),
        duration_s=duration,
        total_bytes=sum(sizes),
        init_bytes=init_bytes,
        average_bandwidth=math.ceil(sum(sizes) * 8 / duration) if duration > 0 else 0,
        peak_bandwidth=math.ceil(peak_bitrate(sizes, durations, target)),
    )


def write_master(
    hls_dir: Path,
    rung_names: Sequence[str],
    *,
    codecs: str = AAC_LC_CODEC,
    session_data: tuple[tuple[str, str], ...] = (),
) -> list[RenditionStats]:
    """Measure each rung under ``hls_dir`` and (re)write ``master.m3u8`` from the measurements. Blocking.

    BANDWIDTH is the measured peak and AVERAGE-BANDWIDTH the measured average, both rounded up to
    whole bit/s. Variants are listed in ``rung_names`` order (the ladder's, lowest first).
    """
    stats: list[RenditionStats] = []
    versions: list[int] = []
    for name in rung_names:
        playlist = read_media_playlist(hls_dir / name / MEDIA_PLAYLIST)
        versions.append(playlist.version or 7)
        stats.append(measure_rendition(hls_dir / name, playlist))
    master = MasterPlaylist(
        variants=tuple(
            Variant(f"{s.name}/{MEDIA_PLAYLIST}", s.peak_bandwidth, s.average_bandwidth, codecs)
            for s in stats
        ),
        version=max(versions),
        # Every AAC frame decodes on its own, so every segment of every rung starts independently.
        independent_segments=True,
        session_data=session_data,
    )
    write_text_atomic(hls_dir / MASTER_PLAYLIST, render_master_playlist(master))
    return stats


def normalise_init_segment(rung_dir: Path) -> MediaPlaylist:
    """Give the rendition's init segment the layout's name (``init.mp4``) and rewrite its playlist.

    ffmpeg 5.1 names it ``init_<n>.mp4`` whenever there are several variants. Blocking.
    """
    playlist = read_media_playlist(rung_dir / MEDIA_PLAYLIST)
    if playlist.map_uri is None:
        raise PlaylistError(f"{rung_dir.name}: the playlist has no EXT-X-MAP")
    if playlist.map_uri != INIT_SEGMENT:
        if not SAFE_COMPONENT_RE.match(playlist.map_uri):
            raise PlaylistError(f"{rung_dir.name}: unexpected EXT-X-MAP URI {playlist.map_uri!r}")
        os.replace(rung_dir / playlist.map_uri, rung_dir / INIT_SEGMENT)
    playlist = replace(playlist, map_uri=INIT_SEGMENT, independent_segments=True)
    write_text_atomic(rung_dir / MEDIA_PLAYLIST, render_media_playlist(playlist))
    return playlist


def validate_ladder(hls_dir: Path) -> list[str]:
    """Problems with the ladder under ``hls_dir``, as a validator would list them; empty = valid. Blocking.

    Checks: both playlist kinds start with #EXTM3U and carry EXT-X-VERSION; every variant declares
    BANDWIDTH, AVERAGE-BANDWIDTH and CODECS and points at a safe relative URI that exists; every media
    playlist is VOD with ENDLIST, has EXT-X-MAP and segments that exist and are not empty, and every
    EXTINF rounded is ≤ TARGETDURATION; all renditions share the same segment boundaries; declared
    BANDWIDTH is ≥ the measured peak and within 10 % of it; AVERAGE-BANDWIDTH is within 10 % of the
    measured average.
    """
    try:
        text = (hls_dir / MASTER_PLAYLIST).read_text(encoding="utf-8", errors="replace")
        master = parse_master_playlist(text)
    except FileNotFoundError:
        return [f"{MASTER_PLAYLIST} is missing"]
    except PlaylistError as exc:
        return [f"{MASTER_PLAYLIST}: {exc.reason}"]
    problems: list[str] = []
    if master.version is None:
        problems.append(f"{MASTER_PLAYLIST}: no EXT-X-VERSION")
    if not master.variants:
        problems.append(f"{MASTER_PLAYLIST}: no variant streams")
    boundaries: dict[str, list[float]] = {}
    for variant in master.variants:
        where = f"{MASTER_PLAYLIST} variant {variant.uri}"
        declared = {
            "BANDWIDTH": variant.bandwidth,
            "AVERAGE-BANDWIDTH": variant.average_bandwidth,
            "CODECS": variant.codecs,
        }
        for attr, value in declared.items():
            if value is None:
                problems.append(f"{where}: no {attr}")
        parts = variant.uri.split("/")
        if not all(SAFE_COMPONENT_RE.match(p) for p in parts):
            problems.append(f"{where}: URI is not a safe relative path")
            continue
        rung_dir = hls_dir.joinpath(*parts[:-1])
        playlist_problems, playlist = _check_media_playlist(rung_dir, parts[-1])
        problems += playlist_problems
        if playlist is None or playlist_problems:
            continue
        boundaries[variant.uri] = [s.duration for s in playlist.segments]
        stats = measure_rendition(rung_dir, playlist)
        problems += _check_bandwidth(where, variant, stats)
    problems += _check_alignment(boundaries)
    return problems


def _check_media_playlist(rung_dir: Path, name: str) -> tuple[list[str], MediaPlaylist | None]:
    where = f"{rung_dir.name}/{name}"
    try:
        playlist = parse_media_playlist((rung_dir / name).read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return [f"{where} is missing"], None
    except PlaylistError as exc:
        return [f"{where}: {exc.reason}"], None
    problems: list[str] = []
    if playlist.version is None:
        problems.append(f"{where}: no EXT-X-VERSION")
    elif playlist.map_uri and playlist.version < 6:
        problems.append(f"{where}: EXT-X-MAP needs EXT-X-VERSION 6 or later, got {playlist.version}")
    if playlist.target_duration is None:
        problems.append(f"{where}: no EXT-X-TARGETDURATION")
    if playlist.playlist_type != "VOD":
        problems.append(f"{where}: EXT-X-PLAYLIST-TYPE is {playlist.playlist_type!r}, not VOD")
    if not playlist.endlist:
        problems.append(f"{where}: no EXT-X-ENDLIST")
    if not playlist.segments:
        problems.append(f"{where}: no segments")
    if playlist.map_uri is None:
        problems.append(f"{where}: no EXT-X-MAP (fMP4 needs an init segment)")
    elif not _nonempty(rung_dir, playlist.map_uri):
        problems.append(f"{where}: init segment {playlist.map_uri} is missing or empty")
    target = playlist.target_duration
    for segment in playlist.segments:
        if target is not None and round_half_up(segment.duration) > target:
            problems.append(
                f"{where}: EXTINF {segment.duration:.3f} of {segment.uri} exceeds TARGETDURATION {target}"
            )
        if not _nonempty(rung_dir, segment.uri):
            problems.append(f"{where}: segment {segment.uri} is missing or empty")
    return problems, playlist


def _nonempty(folder: Path, uri: str) -> bool:
    if not SAFE_COMPONENT_RE.match(uri):
        return False
    path = folder / uri
    return path.is_file() and path.stat().st_size > 0


def _check_bandwidth(where: str, variant: Variant, stats: RenditionStats) -> list[str]:
    problems: list[str] = []
    peak, average = stats.peak_bandwidth, stats.average_bandwidth
    if variant.bandwidth is not None:
        if variant.bandwidth < peak:
            problems.append(f"{where}: BANDWIDTH {variant.bandwidth} is below the measured peak {peak}")
        elif variant.bandwidth > peak * (1 + BANDWIDTH_TOLERANCE):
            problems.append(
                f"{where}: BANDWIDTH {variant.bandwidth} is more than 10 % above the measured peak {peak}"
            )
    if variant.average_bandwidth is not None and abs(variant.average_bandwidth - average) > (
        average * BANDWIDTH_TOLERANCE
    ):
        problems.append(
            f"{where}: AVERAGE-BANDWIDTH {variant.average_bandwidth} is not within 10 % of "
            f"the measured average {average}"
        )
    return problems


def _check_alignment(boundaries: dict[str, list[float]]) -> list[str]:
    """Every rendition must cut at the same instants, or a player switching rungs skips or repeats."""
    if len(boundaries) < 2:
        return []
    (ref_uri, ref), *others = boundaries.items()
    problems: list[str] = []
    for uri, durations in others:
        if len(durations) != len(ref):
            problems.append(f"{uri} has {len(durations)} segments but {ref_uri} has {len(ref)}")
            continue
        for index, (a, b) in enumerate(zip(ref, durations, strict=True)):
            if abs(a - b) > 0.001:
                problems.append(f"{uri}: segment {index} lasts {b:.6f} s but {a:.6f} s in {ref_uri}")
                break
    return problems
