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

import asyncio
import json
import math
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from media import commands
from media.errors import TranscodeFailed
from media.ffmpeg import Analysis, ProbeResult, analyse, probe, run_ffmpeg, sniff_input, stream_ffmpeg
from media.fmp4 import AdtsError, media_segment, split_adts
from media.gapless import AAC_FRAME, edges_for, trailing_samples, write_edit_list
from media.hls_plan import LadderPlan, plan_ladder
from media.ladder import DEFAULT_LADDER, Ladder, Rung
from media.layout import INIT_SEGMENT, MASTER_PLAYLIST, MEDIA_PLAYLIST, segment_name
from media.loudness import session_data, track_loudness
from media.playlists import MasterPlaylist, Variant, render_master_playlist, render_media_playlist

DESCRIPTION = "onplay.json"
"""Beside the playlists of a ladder made on play: what a run needs to make any of its segments."""
DECLARED_PEAK = 1.1
"""BANDWIDTH declared over a rung's nominal bitrate before any segment exists to measure (ffmpeg's own
figure); AVERAGE-BANDWIDTH is the nominal bitrate."""

PREROLL_FRAMES = 2
"""Frames encoded and dropped before the first frame kept."""


@dataclass(frozen=True, slots=True)
class OnPlaySource:
    """A prepared ladder's source and plan inputs (``onplay.json``): enough to make any segment."""

    source: str
    """The original's absolute path."""
    sample_rate: int
    source_samples: int
    edges: int
    tail_from: int | None
    segment_seconds: int
    rungs: tuple[str, ...]

    def plan(self) -> LadderPlan:
        return plan_ladder(
            self.source_samples,
            self.sample_rate,
            self.segment_seconds,
            edges=self.edges,
            trailing=trailing_samples(self.source_samples, self.edges, self.tail_from),
        )

    def to_json(self) -> str:
        return json.dumps({"version": 1, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def read(cls, hls_dir: Path) -> OnPlaySource | None:
        """The description in ``hls_dir``; None when the ladder there was not made on play. Blocking."""
        try:
            data = json.loads((hls_dir / DESCRIPTION).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise TranscodeFailed(f"the on-play description cannot be read: {exc}") from exc
        if data.pop("version", None) != 1:
            raise TranscodeFailed("the on-play description is of an unknown version")
        return cls(**{**data, "rungs": tuple(data["rungs"])})


@dataclass(frozen=True, slots=True)
class Prepared:
    description: OnPlaySource
    analysis: Analysis
    plan: LadderPlan


async def prepare(
    source: Path,
    out_dir: Path,
    *,
    ladder: Ladder = DEFAULT_LADDER,
    probed: ProbeResult | None = None,
    loudness: bool = False,
    niceness: int = 0,
) -> Prepared:
    """Everything of a ladder made on play but its segments, published at ``out_dir`` at once: the
    master playlist (nominal bandwidths; with ``loudness``, the track gain as session data), each
    rung's whole VOD playlist and init segment (with the gapless edit list), and ``onplay.json``. One
    decode (the analysis: a sample count, and the meter when ``loudness`` — it triples the decode's
    cost, so a listener waiting for a first play is not made to wait for it) and, once per process,
    one tiny encode per rung; a second ``prepare`` of the same ladder finds the first's."""
    if not source.is_absolute():
        raise ValueError("the source is named by its absolute path (it is kept in onplay.json)")
    info = probed or await probe(source)
    rate = ladder.sample_rate_for(info.sample_rate)
    analysis, inits = await asyncio.gather(
        analyse(source, rate, loudness=loudness, niceness=niceness),
        asyncio.gather(*(_init_segment(rung, rate, ladder) for rung in ladder.rungs)),
    )
    edges, tail_from = edges_for(info.duration_ms, info.duration_estimated, rate)
    description = OnPlaySource(
        str(source),
        rate,
        analysis.source_samples,
        edges,
        tail_from,
        ladder.segment_seconds,
        tuple(r.name for r in ladder.rungs),
    )
    plan = description.plan()
    await asyncio.to_thread(os.makedirs, out_dir.parent, exist_ok=True)
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".onplay-", dir=out_dir.parent))
    try:
        await asyncio.to_thread(_write_ladder, work, ladder, description, analysis, plan, inits)
        await asyncio.to_thread(_publish_once, work, out_dir)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    return Prepared(description, analysis, plan)


_INITS: dict[tuple[int, Rung, int], bytes] = {}
"""Init segments before their edit list, by (rate, rung, segment duration): they depend on nothing
else, so each is made once per process."""


async def _init_segment(rung: Rung, rate: int, ladder: Ladder) -> bytes:
    key = (rate, rung, ladder.segment_seconds)
    if key not in _INITS:
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hs-init-"))
        try:
            await asyncio.to_thread(os.mkdir, folder / rung.name)
            await run_ffmpeg(
                commands.init_segment_argv(rung, rate, ladder.segment_seconds), cwd=folder, timeout=60
            )
            _INITS[key] = await asyncio.to_thread((folder / rung.name / INIT_SEGMENT).read_bytes)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
    return _INITS[key]


def _write_ladder(
    work: Path,
    ladder: Ladder,
    description: OnPlaySource,
    analysis: Analysis,
    plan: LadderPlan,
    inits: list[bytes],
) -> None:
    names = [segment_name(i) for i in range(len(plan.segment_frames))]
    for rung, init in zip(ladder.rungs, inits, strict=True):
        rung_dir = work / rung.name
        rung_dir.mkdir()
        (rung_dir / INIT_SEGMENT).write_bytes(init)
        write_edit_list(rung_dir / INIT_SEGMENT, plan.gapless)
        (rung_dir / MEDIA_PLAYLIST).write_text(
            render_media_playlist(plan.media_playlist(INIT_SEGMENT, names))
        )
    loudness = analysis.loudness
    master = MasterPlaylist(
        variants=tuple(
            Variant(f"{r.name}/{MEDIA_PLAYLIST}", math.ceil(r.bitrate * DECLARED_PEAK), r.bitrate, r.codec)
            for r in ladder.rungs
        ),
        version=7,
        independent_segments=True,
        session_data=session_data(
            track_loudness(loudness.integrated_lufs, loudness.true_peak_dbtp, loudness.range_lu)
            if loudness
            else None
        ),
    )
    (work / MASTER_PLAYLIST).write_text(render_master_playlist(master))
    (work / DESCRIPTION).write_text(description.to_json())


def _publish_once(work: Path, out_dir: Path) -> None:
    """Rename ``work`` to ``out_dir`` unless a ladder is there already (another prepare, or an eager
    ladder): that one stays."""
    try:
        os.rename(work, out_dir)
    except OSError:
        if not out_dir.is_dir():
            raise


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
