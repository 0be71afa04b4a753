"""What the lyrics endpoints take and give."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.catalog.schemas import Strict

MAX_TEXT = 200_000


class LyricLineOut(BaseModel):
    start_ms: int | None = Field(description="Where the line starts; null in unsynced lyrics.")
    text: str


class LyricsOut(BaseModel):
    synced: bool
    lang: str | None = Field(description="ISO 639-2 or BCP 47 language, when known.")
    source: str = Field(description="embedded (the file's tags), sidecar (a .lrc file beside it) or upload.")
    lines: list[LyricLineOut]


class LyricsIn(Strict):
    """LRC (``[mm:ss.xx]`` time tags: synced) or plain text (one line per line: unsynced)."""

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    lang: str | None = Field(None, max_length=16, description="ISO 639-2 (eng) or BCP 47 (en-GB).")
