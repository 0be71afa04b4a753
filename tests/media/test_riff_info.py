"""WAV files tagged the way ffmpeg tags them (RIFF INFO) give their title, artist and album."""

from __future__ import annotations

from media.riff_info import read_riff_info
from media.tags import read_tags
from tests.audio import make_audio


def test_wav_riff_info_tags_are_read(tmp_path):
    path = make_audio(
        tmp_path / "t.wav",
        "wav",
        1.0,
        tags={
            "title": "Blue Hour",
            "artist": "Zoë Quartet",
            "album": "Dusk",
            "genre": "Jazz",
            "date": "2019",
            "track": "3",
        },
    )
    info = read_riff_info(path)
    assert info["title"] == ["Blue Hour"] and info["artist"] == ["Zoë Quartet"]
    tags = read_tags(path)
    assert (tags.title, tags.artist, tags.album, tags.genre) == ("Blue Hour", "Zoë Quartet", "Dusk", "Jazz")
    assert tags.year == 2019
    assert tags.duration_ms is not None and abs(tags.duration_ms - 1000) < 50


def test_non_riff_and_truncated_files_give_nothing(tmp_path):
    text = tmp_path / "not.wav"
    text.write_bytes(b"hello, this is not audio")
    assert read_riff_info(text) == {}
    wav = make_audio(tmp_path / "t.wav", "wav", 0.5, tags={"title": "X"})
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav.read_bytes()[:30])
    assert read_riff_info(cut) == {}
