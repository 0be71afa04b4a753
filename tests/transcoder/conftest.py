"""Sources for the pipeline tests: 14 s per format (three 6-s segments: 6 + 6 + 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audio import FORMATS, make_audio, make_jpeg

SECONDS = 14


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per format; mp3, flac and m4a carry an embedded cover."""
    folder = tmp_path_factory.mktemp("sources")
    cover = make_jpeg(120, 90, "green")
    return {
        fmt: make_audio(
            folder / f"source.{fmt}",
            fmt,
            SECONDS,
            tags={"title": f"T {fmt}"},
            cover=cover if fmt in ("mp3", "flac", "m4a") else None,
        )
        for fmt in FORMATS
    }
