"""Segments of a planned ladder made on demand, from any segment on.

A listener who starts a scanned track, or seeks into it, asks for one segment of one rung. The encoder
starts a little before that segment (``PREROLL_FRAMES`` whole frames: the AAC transform of a frame
overlaps the frame before it, so the first frame kept is encoded from real music on both sides, as in
the eager pass), the frames before the segment are dropped, and the rest are packed into exactly the
segments the plan (:mod:`media.hls_plan`) announced — the same frames at the same times as an eager
ladder's, whichever run made them. Segments come out one by one as the encoder reaches them; the caller
stops the run when nobody needs more.

Two runs never make the same frames byte for byte (the encoder's rate control starts afresh), but they
make the same number of frames at the same instants from the same samples, so segments of different
runs play one after the other without a gap or a step (``tests/media/test_onplay.py`` decodes them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from media import commands
from media.errors import TranscodeFailed
from media.ffmpeg import sniff_input, stream_ffmpeg
from media.fmp4 import AdtsError, media_segment, split_adts
from media.gapless import AAC_FRAME
from media.hls_plan import LadderPlan
from media.ladder import Rung

PREROLL_FRAMES = 2
"""Frames encoded and dropped before the first frame kept."""


def run_start(first_frame: int, edges: int) -> int:
    """Where in the encoder's input a run must start to reach frame ``first_frame`` after its pre-roll:
    a whole number of frames, and 0 when that would fall inside the head's mirror (the run then makes
    the mirror too)."""
    # Frame k (k >= 1) encodes the input's samples from (k - 1) * 1024; frame 0 is the priming.
    start = max(0, (first_frame - 1 - PREROLL_FRAMES) * AAC_FRAME)
    return 0 if start < edges else start


async def segments_from(
    source: Path,
    plan: LadderPlan,
    rung: Rung,
    first_segment: int,
    *,
    edges: int,
    tail_from: int | None,
) -> AsyncIterator[tuple[int, bytes]]:
    """(segment index, fMP4 segment) of ``rung``, from ``first_segment`` to the last, each as soon as the
    encoder has made its frames. :class:`TranscodeFailed` if ffmpeg fails or makes other frames than
    the plan says (the plan was made for another file)."""
    first_frame = plan.first_frame(first_segment)
    start = run_start(first_frame, edges)
    # The run's frame 0 is its own priming; its frame i encodes input from start + (i - 1) * 1024.
    skip = first_frame - start // AAC_FRAME
    argv = commands.rung_argv(
        source,
        await sniff_input(source),
        rung,
        plan.sample_rate,
        edges=edges,
        tail_from=tail_from,
        start=start,
    )
    index = first_segment
    wanted = plan.segment_frames[index]
    held: list[bytes] = []
    rest = b""
    last = len(plan.segment_frames) - 1
    stream = stream_ffmpeg(argv)
    try:
        async for data in stream:
            try:
                frames, rest = split_adts(rest + data)
            except AdtsError as exc:
                raise TranscodeFailed(f"the encoder's output could not be read: {exc}") from exc
            if skip:
                dropped = min(skip, len(frames))
                frames, skip = frames[dropped:], skip - dropped
            held += frames
            while index <= last and len(held) >= wanted:
                segment, held = held[:wanted], held[wanted:]
                yield (
                    index,
                    media_segment(
                        segment,
                        sequence=index + 1,
                        first_frame=plan.first_frame(index),
                        sample_rate=plan.sample_rate,
                        last_frame_samples=plan.last_frame_samples if index == last else None,
                    ),
                )
                index += 1
                wanted = plan.segment_frames[index] if index <= last else 0
    finally:
        await stream.aclose()
    if index <= last or held or rest:
        raise TranscodeFailed(
            f"the encoder made other frames than planned (segment {index} of {last + 1} incomplete, "
            f"{len(held)} frames and {len(rest)} bytes over)"
        )
