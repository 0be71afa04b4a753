"""Measuring renditions, writing the master from measurements, validating a ladder on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from media.errors import PlaylistError
from media.hls import measure_rendition, normalise_init_segment, peak_bitrate, validate_ladder, write_master
from media.playlists import MediaPlaylist, Segment, parse_master_playlist, render_media_playlist

DURATIONS = [6.013968, 5.990748, 6.013968, 2.004535]


def write_rung(
    rung_dir: Path,
    durations: Sequence[float],
    sizes: Sequence[int],
    *,
    init: str = "init.mp4",
    **overrides: object,
) -> None:
    """A rendition on disk: segment files of the given sizes and a VOD playlist describing them."""
    rung_dir.mkdir(parents=True)
    (rung_dir / init).write_bytes(b"\0" * 700)
    segments = []
    for index, (duration, size) in enumerate(zip(durations, sizes, strict=True)):
        name = f"seg_{index:05d}.m4s"
        (rung_dir / name).write_bytes(b"\1" * size)
        segments.append(Segment(name, duration))
    fields: dict[str, object] = {
        "target_duration": 6,
        "version": 7,
        "playlist_type": "VOD",
        "map_uri": init,
        "endlist": True,
    } | overrides
    (rung_dir / "index.m3u8").write_text(render_media_playlist(MediaPlaylist(tuple(segments), **fields)))


def build_ladder(hls_dir: Path, bitrates: dict[str, int] | None = None) -> None:
    """A plausible 3-rung ladder, constant bitrate per rung, with a measured master."""
    for name, bps in (bitrates or {"64k": 64_000, "128k": 128_000, "256k": 256_000}).items():
        write_rung(hls_dir / name, DURATIONS, [round(bps * d / 8) for d in DURATIONS])
    write_master(hls_dir, list(bitrates or ["64k", "128k", "256k"]))


def test_peak_uses_windows_of_half_to_one_and_a_half_target() -> None:
    # Single 2-s segments are shorter than 0.5 x 6 s, so the 2000-byte one only counts with a neighbour.
    assert peak_bitrate([100, 100, 100, 2000], [2, 2, 2, 2], 6) == pytest.approx(2100 * 8 / 4)
    # 6-s segments each form a window; 6+6 = 12 s is too long; 6+2 = 8 s is a window.
    assert peak_bitrate([6000, 9000, 1000], [6, 6, 2], 6) == pytest.approx(12_000)
    assert peak_bitrate([6000, 2000, 7000], [6, 6, 2], 6) == pytest.approx(9000 * 8 / 8)


def test_peak_of_a_track_shorter_than_half_the_target_is_its_average() -> None:
    assert peak_bitrate([500], [2.0], 6) == pytest.approx(2000)
    assert peak_bitrate([], [], 6) == 0


def test_measure_rendition(tmp_path: Path) -> None:
    write_rung(tmp_path / "r", [6, 6, 2], [6000, 9000, 1000])
    stats = measure_rendition(tmp_path / "r")
    assert stats.peak_bandwidth == 12_000
    assert stats.average_bandwidth == 9143  # 16000 bytes * 8 / 14 s, rounded up
    assert (stats.segment_count, stats.total_bytes, stats.init_bytes) == (3, 16_000, 700)
    assert stats.duration_s == pytest.approx(14)


def test_write_master_declares_measured_values(tmp_path: Path) -> None:
    write_rung(tmp_path / "64k", [6, 6, 2], [6000, 9000, 1000])
    write_rung(tmp_path / "128k", [6, 6, 2], [12000, 18000, 2000])
    stats = write_master(tmp_path, ["64k", "128k"])
    master = parse_master_playlist((tmp_path / "master.m3u8").read_text())
    assert master.independent_segments
    assert [(v.uri, v.bandwidth, v.average_bandwidth, v.codecs) for v in master.variants] == [
        ("64k/index.m3u8", 12_000, 9143, "mp4a.40.2"),
        ("128k/index.m3u8", 24_000, 18_286, "mp4a.40.2"),
    ]
    assert [s.name for s in stats] == ["64k", "128k"]


def test_normalise_init_segment_renames_and_rewrites(tmp_path: Path) -> None:
    write_rung(tmp_path / "64k", [6, 2], [10, 10], init="init_0.mp4")
    playlist = normalise_init_segment(tmp_path / "64k")
    assert playlist.map_uri == "init.mp4"
    assert (tmp_path / "64k/init.mp4").stat().st_size == 700
    assert not (tmp_path / "64k/init_0.mp4").exists()
    text = (tmp_path / "64k/index.m3u8").read_text()
    assert '#EXT-X-MAP:URI="init.mp4"' in text
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text


def test_normalise_refuses_odd_map_uri(tmp_path: Path) -> None:
    write_rung(tmp_path / "64k", [6], [10], init="init_0.mp4")
    text = (tmp_path / "64k/index.m3u8").read_text().replace("init_0.mp4", "../../escape.mp4")
    (tmp_path / "64k/index.m3u8").write_text(text)
    with pytest.raises(PlaylistError, match="unexpected EXT-X-MAP"):
        normalise_init_segment(tmp_path / "64k")


def test_a_measured_ladder_is_valid(tmp_path: Path) -> None:
    build_ladder(tmp_path)
    assert validate_ladder(tmp_path) == []


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _nominal_master(hls_dir: Path) -> None:
    """What ffmpeg 5.1 writes: nominal x 1.1, no AVERAGE-BANDWIDTH."""
    (hls_dir / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n"
        + "".join(
            f'#EXT-X-STREAM-INF:BANDWIDTH={round(b * 1.1)},CODECS="mp4a.40.2"\n{n}/index.m3u8\n'
            for n, b in (("64k", 64_000), ("128k", 128_000), ("256k", 256_000))
        )
    )


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda d: (d / "master.m3u8").unlink(), "master.m3u8 is missing"),
        (_nominal_master, "no AVERAGE-BANDWIDTH"),
        (lambda d: _replace(d / "master.m3u8", "BANDWIDTH=64", "BANDWIDTH=60"), "below the measured peak"),
        (
            lambda d: _replace(d / "master.m3u8", ",AVERAGE-BANDWIDTH=256", ",AVERAGE-BANDWIDTH=356"),
            "AVERAGE-BANDWIDTH 356",
        ),
        (
            lambda d: _replace(
                d / "master.m3u8", "#EXT-X-STREAM-INF:BANDWIDTH=256", "#EXT-X-STREAM-INF:BANDWIDTH=356"
            ),
            "more than 10 % above",
        ),
        (lambda d: _replace(d / "master.m3u8", ',CODECS="mp4a.40.2"', ""), "no CODECS"),
        (lambda d: _replace(d / "master.m3u8", "#EXT-X-VERSION:7\n", ""), "no EXT-X-VERSION"),
        (lambda d: _replace(d / "master.m3u8", "64k/index.m3u8", "../64k/index.m3u8"), "not a safe relative"),
        (lambda d: _replace(d / "128k/index.m3u8", "#EXT-X-ENDLIST", ""), "no EXT-X-ENDLIST"),
        (
            lambda d: _replace(
                d / "128k/index.m3u8", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:EVENT"
            ),
            "not VOD",
        ),
        (lambda d: _replace(d / "128k/index.m3u8", '#EXT-X-MAP:URI="init.mp4"\n', ""), "no EXT-X-MAP"),
        (lambda d: (d / "128k/init.mp4").unlink(), "init segment init.mp4 is missing"),
        (lambda d: (d / "256k/seg_00002.m4s").write_bytes(b""), "seg_00002.m4s is missing or empty"),
        (
            lambda d: _replace(d / "64k/index.m3u8", "#EXTINF:5.990748", "#EXTINF:6.600000"),
            "exceeds TARGETDURATION",
        ),
        (
            lambda d: _replace(d / "256k/index.m3u8", "#EXTINF:5.990748", "#EXTINF:5.890748"),
            "segment 1 lasts",
        ),
        (lambda d: _replace(d / "256k/index.m3u8", "#EXTM3U\n", ""), "does not start with #EXTM3U"),
    ],
)
def test_validator_finds_each_problem(tmp_path: Path, tamper, expected: str) -> None:  # type: ignore[no-untyped-def]
    build_ladder(tmp_path)
    tamper(tmp_path)
    problems = validate_ladder(tmp_path)
    assert any(expected in p for p in problems), problems


def test_validator_flags_different_segment_counts(tmp_path: Path) -> None:
    build_ladder(tmp_path, {"64k": 64_000})
    write_rung(tmp_path / "128k", DURATIONS[:3], [96_000] * 3)
    write_master(tmp_path, ["64k", "128k"])
    problems = validate_ladder(tmp_path)
    assert any("has 3 segments but 64k/index.m3u8 has 4" in p for p in problems), problems
