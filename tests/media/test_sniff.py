"""media/sniff.py: the demuxer a file may be read with, from its first bytes alone."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from mutagen.id3 import ID3, USLT

from media.sniff import ID3_FRAME_BUDGET, id3v2_size, sniff_file
from tests.audio import FORMATS, make_audio, make_jpeg

EXPECTED = {"mp3": "mp3", "flac": "flac", "wav": "wav", "ogg": "ogg", "m4a": "mov", "opus": "ogg"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_we_make_is_named_by_its_bytes(tmp_path: Path, fmt: str) -> None:
    path = make_audio(tmp_path / f"x.{fmt}", fmt, 1.0, tags={"title": "T"})
    with path.open("rb") as f:
        found = sniff_file(f)
    assert found is not None and found.demuxer == EXPECTED[fmt] and found.skip_bytes == 0


def test_playlists_text_and_images_are_no_audio() -> None:
    for data in (
        b"#EXTM3U\n#EXTINF:1,\n/etc/passwd\n",
        b"ffconcat version 1.0\n",
        b"<?xml version='1.0'?><MPD/>",
    ):
        assert sniff_file(io.BytesIO(data)) is None
    assert sniff_file(io.BytesIO(make_jpeg())) is None
    found = sniff_file(io.BytesIO(make_jpeg()), images=True)
    assert found is not None and found.demuxer == "jpeg_pipe"


def test_an_oversized_id3_text_frame_is_named_and_the_tag_skipped(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "wordy.mp3", "mp3", 1.0)
    tags = ID3(path)
    tags.add(USLT(lang="eng", desc="", text="la " * ID3_FRAME_BUDGET))
    tags.save()
    with path.open("rb") as f:
        head = f.read(10)
        f.seek(0)
        found = sniff_file(f)
    assert found is not None and found.demuxer == "mp3"
    assert found.oversized_frames == frozenset({"USLT"})
    assert found.skip_bytes == id3v2_size(head) > ID3_FRAME_BUDGET


def test_a_small_tag_is_kept_for_ffmpeg(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "plain.mp3", "mp3", 1.0, tags={"title": "T"})
    with path.open("rb") as f:
        found = sniff_file(f)
    assert found is not None and found.id3_size > 0 and found.skip_bytes == 0
