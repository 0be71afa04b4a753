"""Tag reading with mutagen on real files, including hostile tags."""

from __future__ import annotations

import base64
import unicodedata
from pathlib import Path

import pytest
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3, TCON, TIT2, TRCK, TYER

from media.tags import MAX_COVER_BYTES, MAX_TEXT, Tags, clean_text, parse_number, parse_year, read_tags
from tests.audio import FORMATS, embed_cover, make_audio, make_garbage
from tests.media.conftest import TAGS


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "wav"])
def test_tags_of_every_format(tagged_files: dict[str, Path], cover_jpeg: bytes, fmt: str) -> None:
    tags = read_tags(tagged_files[fmt])
    assert (tags.title, tags.artist, tags.album, tags.genre) == (
        TAGS["title"],
        TAGS["artist"],
        TAGS["album"],
        TAGS["genre"],
    )
    assert tags.year == 2003
    assert tags.track_no == 3
    assert tags.duration_ms is not None and abs(tags.duration_ms - 3000) < 60
    assert tags.cover is not None
    assert tags.cover.mime == "image/jpeg"
    assert tags.cover.data == cover_jpeg


def test_wav_without_id3_has_duration_but_no_tags(tagged_files: dict[str, Path]) -> None:
    tags = read_tags(tagged_files["wav"])
    assert tags.duration_ms is not None and abs(tags.duration_ms - 3000) < 10
    assert tags.cover is None


def test_hostile_strings_are_cleaned(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "x.mp3", "mp3", 1)
    id3 = ID3(path)
    decomposed = "Cafe\u0301"  # "Café" written as e + combining acute
    id3.add(TIT2(encoding=3, text=["\x00\x1b[31m" + decomposed + "\t\n  Bar\ufeff" + "x" * 100_000]))
    id3.add(TRCK(encoding=3, text=["07/12"]))
    id3.add(TYER(encoding=3, text=["1999"]))  # a v2.3 year frame, which mutagen maps to TDRC
    id3.save(path, v2_version=3)
    tags = read_tags(path)
    assert tags.title is not None
    assert tags.title.startswith("[31mCafé Bar")
    assert unicodedata.is_normalized("NFC", tags.title)
    assert len(tags.title) == MAX_TEXT
    assert not any(ord(c) < 32 for c in tags.title)
    assert tags.track_no == 7
    assert tags.year == 1999


def test_oversized_and_non_image_covers_are_ignored(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "big.flac", "flac", 1)
    embed_cover(path, "flac", b"\xff\xd8\xff" + b"\0" * (MAX_COVER_BYTES + 10))
    assert read_tags(path).cover is None
    audio = FLAC(path)
    audio.clear_pictures()
    audio.save()
    embed_cover(path, "flac", b"<html>not an image</html>", mime="image/jpeg")
    assert read_tags(path).cover is None


def test_png_cover_is_sniffed_not_trusted(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    path = make_audio(tmp_path / "p.m4a", "m4a", 1)
    embed_cover(path, "m4a", png, mime="image/jpeg")  # the tag lies about the type
    cover = read_tags(path).cover
    assert cover is not None and cover.mime == "image/png"


def test_oversized_vorbis_picture_is_skipped_before_decoding(tmp_path: Path) -> None:
    from mutagen.oggvorbis import OggVorbis

    path = make_audio(tmp_path / "v.ogg", "ogg", 1)
    audio = OggVorbis(path)
    big = Picture()
    big.type, big.mime, big.data = 3, "image/jpeg", b"\xff\xd8\xff" + b"\1" * (MAX_COVER_BYTES + 1)
    audio["metadata_block_picture"] = [base64.b64encode(big.write()).decode("ascii"), "!!not base64!!"]
    audio.save()
    assert read_tags(path).cover is None


@pytest.mark.parametrize("kind", ["empty", "text"])
def test_garbage_files_give_empty_tags(tmp_path: Path, kind: str) -> None:
    assert read_tags(make_garbage(tmp_path / f"{kind}.mp3", kind)) == Tags()


def test_truncated_file_still_gives_its_tags(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "full.mp3", "mp3", 4, tags={"title": "Half"})
    tags = read_tags(make_garbage(tmp_path / "half.mp3", "truncated", source=source))
    assert tags.title == "Half"


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_tags(tmp_path / "nope.mp3")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3/12", 3),
        ("03", 3),
        (" 7 ", 7),
        ("0", None),
        ("A1", None),
        ("", None),
        ("99999", None),
        ((4, 10), 4),
        ([("5", "6")], 5),
        (None, None),
        (["", "8"], 8),
    ],
)
def test_parse_number(value: object, expected: int | None) -> None:
    assert parse_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2003", 2003),
        ("2003-05-01", 2003),
        ("May 1987", 1987),
        ("12345", None),
        ("0999", None),
        ("soon", None),
        (["", "1970"], 1970),
    ],
)
def test_parse_year(value: object, expected: int | None) -> None:
    assert parse_year(value) == expected


def test_clean_text_edge_cases() -> None:
    assert clean_text(["", "  ", "ok"]) == "ok"
    assert clean_text("\ud800lone surrogate") == "?lone surrogate"
    assert clean_text("a\u200bb") == "a\u200bb"  # format characters such as ZWSP are kept
    assert clean_text("\u202e\x01 Evil\x07Artist \u200b") == "Evil Artist"  # no bidi override spoofing
    assert clean_text("\u05e9\u05dc\u05d5\u05dd \u200fA") == "\u05e9\u05dc\u05d5\u05dd \u200fA"  # RLM kept
    assert clean_text("\U0001f469\u200d\U0001f4bb") == "\U0001f469\u200d\U0001f4bb"  # ZWJ emoji intact
    assert clean_text(None) is None
    assert clean_text("\x00\x01") is None


def test_id3v1_genre_numbers_are_spelled_out(tmp_path: Path) -> None:
    """Tags are read from the format's own tag object, as mutagen's easy interface would give them."""
    path = make_audio(tmp_path / "numbered.mp3", "mp3", 1)
    id3 = ID3(path)
    id3.add(TCON(encoding=3, text=["(17)"]))
    id3.save(path)
    assert read_tags(path).genre == "Rock"


def test_a_scan_can_leave_the_cover_out(tagged_files: dict[str, Path]) -> None:
    for fmt in ("mp3", "flac", "m4a", "ogg"):
        with_cover, without = read_tags(tagged_files[fmt]), read_tags(tagged_files[fmt], cover=False)
        assert with_cover.cover is not None and without.cover is None
        assert without == Tags(**{**{f: getattr(with_cover, f) for f in Tags.__slots__}, "cover": None})


def test_replaygain_tags_are_read_from_every_container(tmp_path: Path) -> None:
    from mutagen.id3 import TXXX
    from mutagen.mp4 import MP4, MP4FreeForm
    from mutagen.oggopus import OggOpus

    flac = make_audio(tmp_path / "rg.flac", "flac", 1.0)
    tags = FLAC(flac)
    tags.update({"REPLAYGAIN_TRACK_GAIN": "-6.54 dB", "REPLAYGAIN_TRACK_PEAK": "0.988553",
                 "REPLAYGAIN_ALBUM_GAIN": "-7.10 dB", "REPLAYGAIN_ALBUM_PEAK": "1.000000"})  # fmt: skip
    tags.save()
    mp3 = make_audio(tmp_path / "rg.mp3", "mp3", 1.0)
    id3 = ID3(mp3)
    id3.add(TXXX(encoding=3, desc="REPLAYGAIN_TRACK_GAIN", text=["+2.10 dB"]))
    id3.add(TXXX(encoding=3, desc="replaygain_track_peak", text=["0.5"]))
    id3.save()
    m4a = make_audio(tmp_path / "rg.m4a", "m4a", 1.0)
    mp4 = MP4(m4a)
    mp4["----:com.apple.iTunes:replaygain_track_gain"] = [MP4FreeForm(b"-3.00 dB")]
    mp4.save()
    opus = make_audio(tmp_path / "rg.opus", "opus", 1.0)
    ogg = OggOpus(opus)
    ogg["R128_TRACK_GAIN"] = "-1280"  # -5 dB to -23 LUFS: 0 dB to ReplayGain's -18 LUFS
    ogg.save()

    flac_rg = read_tags(flac).replaygain
    assert flac_rg is not None
    assert (flac_rg.track_gain_db, flac_rg.track_peak, flac_rg.album_gain_db, flac_rg.album_peak) == (
        -6.54,
        0.988553,
        -7.10,
        1.0,
    )
    loudness = flac_rg.loudness()
    assert loudness["integrated_lufs"] == -11.46 and loudness["track_gain_db"] == -6.54
    assert loudness["true_peak_dbtp"] == -0.1 and loudness["album_true_peak_dbtp"] == 0.0
    mp3_rg = read_tags(mp3).replaygain
    assert mp3_rg is not None and (mp3_rg.track_gain_db, mp3_rg.track_peak) == (2.1, 0.5)
    m4a_rg = read_tags(m4a).replaygain
    assert m4a_rg is not None and m4a_rg.track_gain_db == -3.0 and m4a_rg.track_peak is None
    opus_rg = read_tags(opus).replaygain
    assert opus_rg is not None and opus_rg.track_gain_db == 0.0

    # No gain, or one that is no measurement: nothing.
    plain = make_audio(tmp_path / "plain.flac", "flac", 1.0)
    assert read_tags(plain).replaygain is None
    bad = FLAC(plain)
    bad.update({"REPLAYGAIN_TRACK_GAIN": "-600 dB", "REPLAYGAIN_TRACK_PEAK": "0.9"})
    bad.save()
    assert read_tags(plain).replaygain is None
