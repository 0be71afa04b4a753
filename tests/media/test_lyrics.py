"""Lyrics from every place a music file keeps them (the tests write each with mutagen); LRC parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3, SYLT, USLT, Encoding
from mutagen.mp4 import MP4
from mutagen.oggvorbis import OggVorbis

from media.lyrics import LyricLine, parse_lyrics
from media.tags import read_tags
from tests.audio import make_audio

LRC = """[ar:Somebody]
[ti:Song]
[la:eng]
[offset:+100]
[00:01.00]First line
[00:03.50][00:09.25]Chorus, sung twice
[00:05.123]Third <00:05.50>with <00:06.00>word times
"""


def test_lrc_is_synced_with_offsets_repeats_and_language() -> None:
    lyrics = parse_lyrics(LRC)
    assert lyrics is not None and lyrics.synced and lyrics.lang == "eng"
    # [offset:+100] makes every line 100 ms earlier; a line with two time tags appears twice.
    assert lyrics.lines == (
        LyricLine(900, "First line"),
        LyricLine(3400, "Chorus, sung twice"),
        LyricLine(5023, "Third with word times"),
        LyricLine(9150, "Chorus, sung twice"),
    )


def test_plain_text_keeps_its_verses_and_drops_control_characters() -> None:
    lyrics = parse_lyrics("\n\nVerse one\x07\r\nline two\n\nVerse two\n\n", lang="und")
    assert lyrics is not None and not lyrics.synced and lyrics.lang is None
    assert [line.text for line in lyrics.lines] == ["Verse one", "line two", "", "Verse two"]
    assert all(line.start_ms is None for line in lyrics.lines)
    assert parse_lyrics(" \n\t\n") is None
    assert parse_lyrics("[ar:Only tags]\n[ti:No lines]\n[00:01.00]") is None


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lyrics")
    return {fmt: make_audio(folder / f"a.{fmt}", fmt, 1.0) for fmt in ("mp3", "flac", "ogg", "m4a", "wav")}


def read_lyrics(path: Path, *, sidecar: bool = False):
    """The lyrics the tag reader finds, as a scan (``sidecar``) or an upload reads the file."""
    return read_tags(path, sidecar_lyrics=sidecar).lyrics


def _copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_bytes())
    return dest


def test_id3_unsynced_lyrics(audio: dict[str, Path], tmp_path: Path) -> None:
    path = _copy(audio["mp3"], tmp_path / "uslt.mp3")
    tags = ID3(path)
    tags.add(USLT(encoding=Encoding.UTF8, lang="deu", desc="", text="Erste Zeile\nZweite Zeile"))
    tags.save(path)
    lyrics = read_lyrics(path)
    assert lyrics is not None and not lyrics.synced and lyrics.lang == "deu" and lyrics.source == "embedded"
    assert [line.text for line in lyrics.lines] == ["Erste Zeile", "Zweite Zeile"]
    assert read_tags(path).duration_ms == pytest.approx(1000, abs=100)  # read in the same pass as the rest


def test_id3_synced_lyrics_win_and_mpeg_frame_times_become_ms(audio: dict[str, Path], tmp_path: Path) -> None:
    path = _copy(audio["mp3"], tmp_path / "sylt.mp3")
    tags = ID3(path)
    tags.add(USLT(encoding=Encoding.UTF8, lang="eng", desc="", text="Plain"))
    tags.add(SYLT(encoding=Encoding.UTF8, lang="eng", format=2, type=1, text=[("One", 1000), ("Two", 2500)]))
    tags.save(path)
    lyrics = read_lyrics(path)
    assert lyrics is not None and lyrics.synced
    assert lyrics.lines == (LyricLine(1000, "One"), LyricLine(2500, "Two"))

    tags = ID3(path)
    tags.delall("SYLT")
    # Format 1: MPEG frames (1152 samples at the file's 44.1 kHz: 26.12 ms each).
    tags.add(SYLT(encoding=Encoding.UTF8, lang="eng", format=1, type=1, text=[("Frame", 100)]))
    tags.save(path)
    lyrics = read_lyrics(path)
    assert lyrics is not None and lyrics.lines == (LyricLine(round(100 * 1152 * 1000 / 44100), "Frame"),)


def test_vorbis_comments_of_flac_and_ogg(audio: dict[str, Path], tmp_path: Path) -> None:
    flac = _copy(audio["flac"], tmp_path / "l.flac")
    tagged = FLAC(flac)
    tagged["LYRICS"] = LRC
    tagged.save()
    lyrics = read_lyrics(flac)
    assert lyrics is not None and lyrics.synced and lyrics.lines[0] == LyricLine(900, "First line")

    ogg = _copy(audio["ogg"], tmp_path / "l.ogg")
    tagged = OggVorbis(ogg)
    tagged["UNSYNCEDLYRICS"] = "Just words"
    tagged.save()
    lyrics = read_lyrics(ogg)
    assert lyrics is not None and not lyrics.synced and lyrics.lines == (LyricLine(None, "Just words"),)


def test_mp4_lyrics_atom(audio: dict[str, Path], tmp_path: Path) -> None:
    path = _copy(audio["m4a"], tmp_path / "l.m4a")
    tagged = MP4(path)
    tagged["\xa9lyr"] = ["Line A\nLine B"]
    tagged.save()
    lyrics = read_lyrics(path)
    assert lyrics is not None and [line.text for line in lyrics.lines] == ["Line A", "Line B"]


def test_a_sidecar_lrc_wins_for_scans_only(audio: dict[str, Path], tmp_path: Path) -> None:
    path = _copy(audio["flac"], tmp_path / "song.flac")
    tagged = FLAC(path)
    tagged["LYRICS"] = "From the tags"
    tagged.save()
    (tmp_path / "song.lrc").write_bytes(("\ufeff" + LRC).encode("utf-8"))  # with a BOM, as editors write
    scanned = read_tags(path, sidecar_lyrics=True).lyrics
    assert scanned is not None and scanned.source == "sidecar" and scanned.synced
    assert read_tags(path).lyrics.lines == (LyricLine(None, "From the tags"),)
    # A Windows editor's file in cp1252.
    (tmp_path / "song.lrc").write_bytes("[00:02.00]Caf\xe9 au lait".encode("cp1252"))
    assert read_lyrics(path, sidecar=True).lines == (LyricLine(2000, "Café au lait"),)


def test_no_lyrics_anywhere(audio: dict[str, Path]) -> None:
    for path in audio.values():
        assert read_lyrics(path, sidecar=True) is None
