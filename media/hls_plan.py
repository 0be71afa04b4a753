"""The segment plan of a ladder: every segment's frames and duration, known before any is encoded.

A ladder made on play (scanned music, issue "ladders on play") must hand players whole VOD playlists
before a single segment exists, and every segment made later — by whichever transcode reaches it —
must be the one the playlist announced. Both follow from what the ladder pass does, which is fixed:

- the encoder's input is the music resampled to the ladder's rate, framed by the mirrored edges
  (``edges`` samples before it, the ``trailing`` samples of its mirrored tail after it;
  :func:`media.gapless.edges_for`);
- ffmpeg's AAC encoder puts one frame of priming (:data:`media.gapless.FFMPEG_AAC_PRIMING`) before
  that input and pads the last frame, so it writes ``ceil(input / 1024) + 1`` frames of 1024 samples;
- ffmpeg's HLS muxer (``-hls_time T``) starts segment ``n`` at the first frame ``k`` with
  ``k * 1024 >= n * T * rate``: frame times count from the first frame, priming included;
- each EXTINF is the segment's frames times 1024 samples, except that the last frame lasts only the
  input it still holds (ffmpeg gives it the duration of the music, not of the padding).

So the plan needs the music's exact sample count at the ladder's rate — an analysis pass counts it
(:func:`media.commands.analysis_argv`); the probe's duration is not exact. ``tests/media/test_hls_plan.py``
checks the plan against eager ladders ffmpeg made, segment by segment and to the sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from media.gapless import AAC_FRAME, FFMPEG_AAC_PRIMING, Gapless
from media.playlists import MediaPlaylist, Segment


@dataclass(frozen=True, slots=True)
class LadderPlan:
    """Where every segment of every rung of one track begins and ends (all rungs share the plan)."""

    sample_rate: int
    segment_frames: tuple[int, ...]
    """AAC frames in each segment, in order."""
    last_frame_samples: int
    """Samples of input the last frame holds (1..1024): the encoder padded the rest."""
    gapless: Gapless

    @property
    def frames(self) -> int:
        return sum(self.segment_frames)

    def first_frame(self, index: int) -> int:
        """The frame segment ``index`` begins with (frame 0 is the encoder's priming)."""
        if not 0 <= index < len(self.segment_frames):
            raise IndexError(index)
        return sum(self.segment_frames[:index])

    def durations(self) -> list[float]:
        """Each segment's EXTINF duration in seconds, as ffmpeg's HLS muxer writes it."""
        out = [frames * AAC_FRAME / self.sample_rate for frames in self.segment_frames]
        out[-1] -= (AAC_FRAME - self.last_frame_samples) / self.sample_rate
        return out

    def media_playlist(self, init_uri: str, segment_uris: list[str]) -> MediaPlaylist:
        """The whole VOD media playlist of one rung (``segment_uris``: one per segment, in order)."""
        if len(segment_uris) != len(self.segment_frames):
            raise ValueError(f"{len(segment_uris)} segment names for {len(self.segment_frames)} segments")
        return MediaPlaylist(
            segments=tuple(Segment(uri, d) for uri, d in zip(segment_uris, self.durations(), strict=True)),
            version=7,
            playlist_type="VOD",
            map_uri=init_uri,
            independent_segments=True,
            endlist=True,
        )


def plan_ladder(
    source_samples: int, sample_rate: int, segment_seconds: int, *, edges: int = 0, trailing: int = 0
) -> LadderPlan:
    """The plan of a ladder of ``source_samples`` of music at ``sample_rate`` (the ladder's rate), framed
    by ``edges`` mirrored samples before and ``trailing`` after (see the module doc)."""
    if source_samples <= 0 or sample_rate <= 0 or segment_seconds <= 0:
        raise ValueError("a plan needs music, a sample rate and a segment duration")
    encoded = edges + source_samples + trailing
    frames = math.ceil(encoded / AAC_FRAME) + FFMPEG_AAC_PRIMING // AAC_FRAME
    starts = [0]
    n = 1
    while True:
        # The first frame whose time (from the first frame) reaches n segment durations.
        start = -(-n * segment_seconds * sample_rate // AAC_FRAME)
        if start >= frames:
            break
        starts.append(start)
        n += 1
    segment_frames = tuple(end - begin for begin, end in zip(starts, [*starts[1:], frames], strict=True))
    padding = frames * AAC_FRAME - FFMPEG_AAC_PRIMING - encoded
    return LadderPlan(
        sample_rate=sample_rate,
        segment_frames=segment_frames,
        last_frame_samples=AAC_FRAME - padding,
        gapless=Gapless(sample_rate, FFMPEG_AAC_PRIMING + edges, padding + trailing, source_samples),
    )
