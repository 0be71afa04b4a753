"""Extended M3U of a playlist: one ``#EXTINF`` line and one signed stream URL per track.

Stream URLs carry their own signature in the path, so a player that sends no header and no cookie
(VLC, mpv, ffmpeg) opens the whole list; they expire like every signed media URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from server.catalog.schemas import TrackOut

CONTENT_TYPE = "audio/x-mpegurl"
_LINE_BREAKS = re.compile(r"[\r\n]+")


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()


def render_m3u(name: str, tracks: Sequence[TrackOut], stream_url: Callable[[str], str]) -> str:
    """The playlist as UTF-8 extended M3U; ``stream_url(track_id)`` gives each entry's signed URL."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(name)}"]
    for track in tracks:
        seconds = round(track.duration_ms / 1000) if track.duration_ms else -1
        label = f"{track.artist_name} - {track.title}" if track.artist_name else track.title
        lines.append(f"#EXTINF:{seconds},{_one_line(label)}")
        lines.append(stream_url(track.id))
    return "\n".join(lines) + "\n"
