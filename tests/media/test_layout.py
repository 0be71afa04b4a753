"""The storage layout and the one safe way from a URL path to a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from media.errors import UnsafePath
from media.layout import MediaLayout, safe_resolve, segment_name, validate_track_id


@pytest.fixture
def layout(tmp_path: Path) -> MediaLayout:
    root = tmp_path / "media"
    result = MediaLayout(root)
    result.ensure_dirs()
    return result


def test_paths_follow_the_documented_layout(layout: MediaLayout) -> None:
    root = layout.root
    assert layout.original_path("t1", ".FLAC") == root / "originals/t1/original.flac"
    assert layout.master_playlist("t1") == root / "hls/t1/master.m3u8"
    assert layout.media_playlist("t1", "128k") == root / "hls/t1/128k/index.m3u8"
    assert layout.cover_path("t1") == root / "covers/t1.jpg"
    assert segment_name(0) == "seg_00000.m4s"
    assert segment_name(123) == "seg_00123.m4s"
    assert layout.relative(layout.media_playlist("t1", "64k")) == "hls/t1/64k/index.m3u8"


@pytest.mark.parametrize("good", ["a", "A-b_9", "x" * 64, "65f1c0ffee0123456789abcd"])
def test_valid_track_ids(good: str) -> None:
    assert validate_track_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "x" * 65, "../etc", "a/b", "a.b", "a b", "é", "a\x00", ".", "..", "%2e%2e", None, 5]
)
def test_invalid_track_ids(bad: object) -> None:
    with pytest.raises(UnsafePath):
        validate_track_id(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_ext", ["", "../x", "mp3/..", "toolongext", "m p3"])
def test_invalid_extensions(layout: MediaLayout, bad_ext: str) -> None:
    with pytest.raises(UnsafePath):
        layout.original_path("t1", bad_ext)


def test_resolve_accepts_files_of_the_layout(layout: MediaLayout) -> None:
    seg = layout.rung_dir("t1", "64k") / "seg_00000.m4s"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(b"x")
    assert layout.resolve("hls/t1/64k/seg_00000.m4s") == seg.resolve()
    assert layout.resolve("covers/t1.jpg") == (layout.root / "covers/t1.jpg").resolve()


@pytest.mark.parametrize(
    "attack",
    [
        "../secret",
        "hls/../../secret",
        "hls/t1/../../../etc/passwd",
        "/etc/passwd",
        "//etc/passwd",
        "hls\\..\\..\\secret",
        "%2e%2e/secret",
        "hls/%2e%2e/%2e%2e/secret",
        "..%2fsecret",
        "hls/./t1",
        "hls//t1",
        "hls/t1/",
        "",
        ".git/config",
        "hls/.t1.tmp-1-abc/master.m3u8",
        "hls/t1\x00.m3u8",
        "hls/t\u2025/x",
        "hls/\uff0e\uff0e/x",
        "a" * 2000,
    ],
)
def test_resolve_rejects_traversal_and_tricks(layout: MediaLayout, attack: str) -> None:
    with pytest.raises(UnsafePath):
        layout.resolve(attack)


def test_resolve_rejects_symlinks_escaping_the_root(layout: MediaLayout, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside, layout.root / "hls" / "evil")
    os.symlink(outside / "secret.txt", layout.root / "covers" / "t2.jpg")
    with pytest.raises(UnsafePath, match="escapes"):
        layout.resolve("hls/evil/secret.txt")
    with pytest.raises(UnsafePath, match="escapes"):
        layout.resolve("covers/t2.jpg")


def test_resolve_allows_symlinks_that_stay_inside(layout: MediaLayout) -> None:
    target = layout.root / "covers" / "real.jpg"
    target.write_bytes(b"jpg")
    os.symlink(target, layout.root / "covers" / "alias.jpg")
    assert layout.resolve("covers/alias.jpg") == target.resolve()


def test_root_itself_is_not_a_file(layout: MediaLayout) -> None:
    with pytest.raises(UnsafePath):
        safe_resolve(layout.root, ".")


def test_install_cover_and_remove_track(layout: MediaLayout, tmp_path: Path) -> None:
    source = tmp_path / "c.jpg"
    source.write_bytes(b"\xff\xd8\xff-cover")
    installed = layout.install_cover("t9", source)
    assert installed.read_bytes() == b"\xff\xd8\xff-cover"
    assert [p.name for p in installed.parent.iterdir()] == ["t9.jpg"]  # no temp file left
    original = layout.original_path("t9", "mp3")
    original.parent.mkdir(parents=True)
    original.write_bytes(b"id3")
    assert layout.find_original("t9") == original
    layout.remove_track("t9")
    assert not installed.exists()
    assert layout.find_original("t9") is None
