"""Audio formats the catalog takes, by file extension."""

from __future__ import annotations

MIME_TYPES = {
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
    "mka": "audio/x-matroska",
}
"""File extension (lower case, no dot) → the MIME type an original is served with."""
