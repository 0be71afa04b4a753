"""The transcoder: turns an uploaded original into the HLS ladder.

``pipeline`` is the ffmpeg side (no database, no Redis, no aiohttp). The job queue and the worker
process that claim jobs and record results live beside it (``queue.py``, ``worker.py``).
Dependency rule: ``transcoder → media``; never ``server`` or aiohttp.
"""

from __future__ import annotations

from transcoder.pipeline import Rendition, TranscodeResult, transcode

__all__ = ["Rendition", "TranscodeResult", "transcode"]
