"""Parsing and writing playlist text."""

from __future__ import annotations

import pytest

from media.errors import PlaylistError
from media.playlists import (
    MasterPlaylist,
    MediaPlaylist,
    Segment,
    Variant,
    parse_master_playlist,
    parse_media_playlist,
    render_master_playlist,
    render_media_playlist,
)

FFMPEG_MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init_0.mp4"
#EXTINF:6.013968,
seg_00000.m4s
#EXTINF:5.990748,
seg_00001.m4s
#EXTINF:2.004535,
seg_00002.m4s
#EXT-X-ENDLIST
"""

FFMPEG_MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-STREAM-INF:BANDWIDTH=70400,CODECS="mp4a.40.2"
64k/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=140800,CODECS="mp4a.40.2"
128k/index.m3u8
"""


def test_parse_ffmpeg_media_playlist() -> None:
    playlist = parse_media_playlist(FFMPEG_MEDIA)
    assert playlist.version == 7
    assert playlist.target_duration == 6
    assert playlist.playlist_type == "VOD"
    assert playlist.map_uri == "init_0.mp4"
    assert playlist.endlist
    assert [s.uri for s in playlist.segments] == ["seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"]
    assert playlist.duration == pytest.approx(6.013968 + 5.990748 + 2.004535)


def test_media_playlist_round_trips() -> None:
    playlist = parse_media_playlist(FFMPEG_MEDIA).with_map("init.mp4")
    text = render_media_playlist(playlist)
    assert '#EXT-X-MAP:URI="init.mp4"' in text
    assert "#EXTINF:5.990748," in text
    assert parse_media_playlist(text) == playlist


def test_target_duration_is_raised_to_fit_every_segment() -> None:
    playlist = MediaPlaylist(segments=(Segment("a.m4s", 6.4), Segment("b.m4s", 6.5)), target_duration=6)
    assert "#EXT-X-TARGETDURATION:7" in render_media_playlist(playlist)  # 6.5 rounds half up to 7


def test_parse_ffmpeg_master_playlist() -> None:
    master = parse_master_playlist(FFMPEG_MASTER)
    assert master.version == 7
    assert master.variants == (
        Variant("64k/index.m3u8", 70400, None, "mp4a.40.2"),
        Variant("128k/index.m3u8", 140800, None, "mp4a.40.2"),
    )


def test_master_round_trips_with_quoted_commas() -> None:
    master = MasterPlaylist((Variant("a/index.m3u8", 1000, 900, "mp4a.40.2,mp4a.40.5"),), 7, True)
    text = render_master_playlist(master)
    assert 'CODECS="mp4a.40.2,mp4a.40.5"' in text
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    assert parse_master_playlist(text) == master


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "#EXTINF:1,\na.ts\n",
        "#EXTM3U\n#EXTINF:abc,\na.ts\n",
        "#EXTM3U\na.ts\n",
        "#EXTM3U\n#EXTINF:-1,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:six\n",
        FFMPEG_MASTER,
    ],
)
def test_bad_media_playlists_raise(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_media_playlist(text)


def test_media_playlist_is_not_a_master() -> None:
    with pytest.raises(PlaylistError, match="media playlist"):
        parse_master_playlist(FFMPEG_MEDIA)
