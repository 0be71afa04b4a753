"""One error hierarchy for everything media: probing, transcoding, playlists, paths.

Every error carries ``reason``, a sentence a human (an artist whose upload failed, an admin reading a
job record) can understand. The server maps these to its own HTTP errors in one place; nothing here
knows about HTTP.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base of every media error. ``reason`` is the human-readable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ToolMissing(MediaError):
    """ffmpeg or ffprobe is not installed (or not on PATH): an operator problem, not the file's."""


class NotAudio(MediaError):
    """The file is not audio we can read: empty, not a media file, no audio stream, undecodable."""


class NotAudioFile(NotAudio):
    """Not an audio file at all: not a recognised media format, or one with no audio stream."""


class Undecodable(NotAudio):
    """It claims to be audio, but the audio cannot be decoded (empty, unknown codec, no duration)."""


class FileTooComplex(NotAudio):
    """Reading the file took ffmpeg or ffprobe its whole time budget *with the CPU to itself*: the
    file's own doing (a pathological tag or stream), so retrying would only burn another core."""


class TranscodeFailed(MediaError):
    """ffmpeg failed, timed out, or produced output that does not pass our checks."""


class ToolTimedOut(TranscodeFailed):
    """ffmpeg or ffprobe did not finish in time: an overloaded machine as likely as a bad file, so it is
    our failure (503 to an uploader, a transient failure to the job queue), never the file's."""


class PlaylistError(MediaError):
    """A playlist could not be parsed, or a ladder on disk is not what we expect."""


class UnsafePath(MediaError):
    """A path or identifier that could escape the media root, or is not in the layout's alphabet."""
