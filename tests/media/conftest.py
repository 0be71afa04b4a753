"""Generated audio shared by the media tests (made once per session: ffmpeg is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audio import FORMATS, make_audio, make_jpeg

TAGS = {
    "title": "Señor Tone",
    "artist": "The Generators",
    "album": "Fixtures",
    "genre": "Test",
    "date": "2003-05-01",
    "track": "3/12",
}


@pytest.fixture(scope="session")
def cover_jpeg() -> bytes:
    return make_jpeg(40, 30, "blue")


@pytest.fixture(scope="session")
def tagged_files(tmp_path_factory: pytest.TempPathFactory, cover_jpeg: bytes) -> dict[str, Path]:
    """One 3-second file per format, tagged with TAGS; all but WAV carry ``cover_jpeg``."""
    folder = tmp_path_factory.mktemp("tagged")
    return {
        fmt: make_audio(
            folder / f"tagged.{fmt}", fmt, 3, tags=TAGS, cover=None if fmt == "wav" else cover_jpeg
        )
        for fmt in FORMATS
    }
