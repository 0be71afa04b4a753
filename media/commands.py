"""ffmpeg command lines: options in, argv out. Pure functions; :mod:`media.ffmpeg` runs them.

Built as plain lists rather than with ffmpeg-python's ``.compile()``: the ladder needs a
``-filter_complex`` with several labelled outputs, per-output-stream options (``-b:a:1``) and the HLS
muxer's ``-var_stream_map``, none of which ffmpeg-python expresses more clearly than the list itself.
Input and output paths are prefixed with ``file:`` so that a name containing ``:`` is never taken for
a protocol (``http:``, ``concat:``…).

Every input goes through :func:`input_args`, the input policy: the file protocol only, and exactly
the demuxer :mod:`media.sniff` found in the file's first bytes (``-f``, and the same name as the only
format allowed, so no demuxer can open another). ffmpeg never guesses a format, and never from a name.
(The concat demuxer's ``-safe 1`` has no place here: that demuxer is never allowed.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from media.gapless import AAC_FRAME
from media.ladder import Ladder, Rung
from media.layout import INIT_SEGMENT, MEDIA_PLAYLIST, SEGMENT_TEMPLATE
from media.sniff import Sniffed

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

LOUDNESS_FILTER = "ebur128=peak=true:framelog=verbose"
"""EBU R128 meter with true peak. ``framelog=verbose`` keeps its 10-per-second lines out of the info
log; the summary we parse is still printed at info level when the filter closes."""
LOUDNESS_BLOCKS_FILTER = "ebur128=peak=true:framelog=verbose:metadata=1"
"""The same meter, also attaching its momentary loudness to each frame it passes: fed 100 ms frames,
that is one value per gating block, which an album's loudness is computed from (:mod:`media.loudness`).
``ametadata`` writes them to a file, so ffmpeg's log stays short."""

COVER_MAX_PX = 1200


def file_url(path: Path) -> str:
    """``path`` as an ffmpeg ``file:`` URL (absolute, so that it does not depend on the cwd)."""
    return f"file:{Path(path).absolute()}"


def input_args(path: Path, fmt: Sniffed) -> list[str]:
    """``-i path`` under the input policy (module doc): only ``file:``, only the sniffed demuxer, and
    past an ID3v2 tag too large to parse (:attr:`Sniffed.skip_bytes`)."""
    skip = ["-skip_initial_bytes", str(fmt.skip_bytes)] if fmt.skip_bytes else []
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        fmt.demuxer,
        "-f",
        fmt.demuxer,
        *skip,
        "-i",
        file_url(path),
    ]


PROBE_ENTRIES = (
    "format=format_name,duration,bit_rate:"
    "stream=codec_type,codec_name,sample_rate,channels,bit_rate,duration:stream_disposition=attached_pic"
)
"""What the probe needs, no more: tags are mutagen's business (printing them costs ffprobe time)."""


def probe_argv(path: Path, fmt: Sniffed, *, binary: str = FFPROBE) -> list[str]:
    """ffprobe printing format and streams as JSON; warnings kept (they tell estimated durations)."""
    return [
        binary,
        "-hide_banner",
        "-v",
        "warning",
        "-show_entries",
        PROBE_ENTRIES,
        "-of",
        "json",
        *input_args(path, fmt),
    ]


def hls_ladder_argv(
    source: Path,
    fmt: Sniffed,
    ladder: Ladder,
    sample_rate: int,
    *,
    measure_loudness: bool = True,
    edges: int = 0,
    tail_from: int | None = None,
    rungs: Sequence[Rung] | None = None,
    blocks_file: Path | None = None,
    binary: str = FFMPEG,
) -> list[str]:
    """ONE ffmpeg pass writing the rungs of ``ladder`` (or the given ``rungs`` of it) as fMP4 HLS, to be
    run with cwd = output dir. Passes over different rungs of the same source run side by side on
    separate cores: each makes the same samples from the same graph, so their frames and segment
    boundaries match.

    The source is resampled once, to one rate, *before* ``asplit``: every rung then encodes the very
    same samples into 1024-sample AAC frames, so the HLS muxer cuts all rungs at the same instants.
    With ``measure_loudness`` a further ``asplit`` branch goes through the EBU R128 meter and a sample
    counter into a null output, so neither costs a second decode; their summaries appear on stderr
    (log level info). ``blocks_file`` (with ``measure_loudness``) receives the meter's momentary
    loudness of every 100 ms block.

    ``edges`` (gapless, see :mod:`media.gapless`): the music is framed by ``edges`` samples of its own
    first samples, mirrored and faded in, and - when ``tail_from`` (where the last ``edges`` samples
    begin, about) is given - of its last samples, mirrored and faded out. The encoder then never sees
    a jump from silence into the music or out of it, which it would smear over the music's first and
    last milliseconds; the edit list trims both frames away. The loudness branch measures the music
    alone.

    Writes ``<rung>/index.m3u8``, ``<rung>/init_<n>.mp4`` and ``<rung>/seg_00000.m4s``…; the master
    playlist is :mod:`media.hls`'s, written from measurements afterwards.
    """
    chosen = tuple(rungs) if rungs is not None else ladder.rungs
    n = len(chosen)
    labels = "".join(f"[a{i}]" for i in range(n))
    resample = f"[0:a:0]{_resample(sample_rate)}"
    music = ["[body]"] + (["[lm]"] if measure_loudness else [])
    parts: list[str] = []
    if edges > 0:
        music.append("[head]")
        parts.append(f"[head]atrim=end_sample={edges},areverse,afade=t=in:ns={edges}:curve=hsin[pre]")
        if tail_from is not None:
            music.append("[tail]")
            parts.append(
                f"[tail]atrim=start_sample={max(0, tail_from)},asetpts=PTS-STARTPTS,areverse,"
                f"afade=t=out:ns={edges}:curve=hsin[post]"
            )
        framed = "[pre][body][post]" if tail_from is not None else "[pre][body]"
        parts.append(f"{framed}concat=n={framed.count('[')}:v=0:a=1,asplit={n}{labels}")
    else:
        parts.append(f"[body]asplit={n}{labels}")
    graph = ";".join([f"{resample},asplit={len(music)}{''.join(music)}", *parts])
    if measure_loudness:
        graph += f";[lm]{_meter(sample_rate, blocks_file)}[loud]"
    argv = [
        binary,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "info",
        "-y",
        *input_args(source, fmt),
        "-filter_complex",
        graph,
    ]
    for i in range(n):
        argv += ["-map", f"[a{i}]"]
    argv += ["-map_metadata", "-1", "-c:a", "aac", "-profile:a", "aac_low", "-ac", "2"]
    for i, rung in enumerate(chosen):
        argv += [f"-b:a:{i}", str(rung.bitrate), f"-aac_coder:a:{i}", rung.aac_coder]
    var_stream_map = " ".join(f"a:{i},name:{rung.name}" for i, rung in enumerate(chosen))
    # ffmpeg 5.1 appends _<n> to the init segment's name when there are several variants; media.hls
    # renames it.
    argv += [
        *_hls_muxer(ladder.segment_seconds, "%v"),
        "-var_stream_map",
        var_stream_map,
        f"%v/{MEDIA_PLAYLIST}",
    ]
    if measure_loudness:
        argv += ["-map", "[loud]", "-f", "null", "-"]
    return argv


def rung_argv(
    source: Path,
    fmt: Sniffed,
    rung: Rung,
    sample_rate: int,
    *,
    edges: int,
    tail_from: int | None,
    start: int = 0,
    binary: str = FFMPEG,
) -> list[str]:
    """ONE rung of the ladder, as ADTS on stdout, from sample ``start`` of the encoder's input on: what
    a ladder made on play encodes (``media.onplay`` packs the frames into the planned segments).

    The encoder sees the very samples the eager pass gives it — the same resampling, the same mirrored
    edges (see :func:`hls_ladder_argv`) — only from ``start``, a whole number of frames into that input
    and past the head's mirror (0: from the beginning, the head included). The music before ``start``
    is decoded and trimmed away rather than sought past, so the samples are exact whatever the format
    (a decode runs hundreds of times faster than real time; the encoder is the cost)."""
    if start % AAC_FRAME:
        raise ValueError(f"start {start} is not a whole number of frames")
    if 0 < start < edges:
        raise ValueError("a run starts at the beginning or past the head's mirror")
    outputs = ["[body]"]
    parts: list[str] = []
    body = "[body]"
    if start:
        parts.append(f"[body]atrim=start_sample={start - edges},asetpts=PTS-STARTPTS[cut]")
        body = "[cut]"
    pre = ""
    if edges > 0 and not start:
        outputs.append("[head]")
        parts.append(f"[head]atrim=end_sample={edges},areverse,afade=t=in:ns={edges}:curve=hsin[pre]")
        pre = "[pre]"
    post = ""
    if edges > 0 and tail_from is not None:
        outputs.append("[tail]")
        parts.append(
            f"[tail]atrim=start_sample={max(0, tail_from)},asetpts=PTS-STARTPTS,areverse,"
            f"afade=t=out:ns={edges}:curve=hsin[post]"
        )
        post = "[post]"
    framed = f"{pre}{body}{post}"
    if framed.count("[") > 1:
        parts.append(f"{framed}concat=n={framed.count('[')}:v=0:a=1[a0]")
    else:
        parts.append(f"{body}anull[a0]")
    graph = ";".join([f"[0:a:0]{_resample(sample_rate)},asplit={len(outputs)}{''.join(outputs)}", *parts])
    return [
        binary,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        *input_args(source, fmt),
        "-filter_complex",
        graph,
        "-map",
        "[a0]",
        *_rung_encoder(rung),
        "-f",
        "adts",
        "pipe:1",
    ]


def _rung_encoder(rung: Rung) -> list[str]:
    """The encoder options of one rung, as the eager ladder's pass sets them for each of its outputs."""
    return [
        "-map_metadata",
        "-1",
        "-c:a",
        "aac",
        "-profile:a",
        "aac_low",
        "-ac",
        "2",
        "-b:a",
        str(rung.bitrate),
        "-aac_coder",
        rung.aac_coder,
    ]


def init_segment_argv(
    rung: Rung, sample_rate: int, segment_seconds: int, *, binary: str = FFMPEG
) -> list[str]:
    """A tenth of a second of generated silence through the rung's encoder and the HLS muxer, to be
    run with cwd = an empty folder: the init segment it writes (``<rung>/init.mp4``) is the one the
    eager ladder's rung has, before its edit list is written — it depends on the encoder's settings
    and the rate alone, not on the music. No file is read."""
    return [
        binary,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"anullsrc=r={sample_rate}:cl=stereo",
        "-t",
        "0.1",
        "-map",
        "0:a",
        *_rung_encoder(rung),
        *_hls_muxer(segment_seconds, rung.name),
        f"{rung.name}/{MEDIA_PLAYLIST}",
    ]


def _hls_muxer(segment_seconds: int, folder: str) -> list[str]:
    """The HLS muxer as the ladder uses it: VOD, fMP4 segments of ``segment_seconds`` in ``folder``
    (``%v``: one per variant), every segment independent."""
    return [
        "-f",
        "hls",
        "-hls_time",
        str(segment_seconds),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "fmp4",
        "-hls_flags",
        "independent_segments",
        "-hls_fmp4_init_filename",
        INIT_SEGMENT,
        "-hls_segment_filename",
        f"{folder}/{SEGMENT_TEMPLATE}",
    ]


def _resample(sample_rate: int) -> str:
    """The one resampling every pass makes: the ladder's rate, stereo."""
    return f"aresample={sample_rate},aformat=sample_rates={sample_rate}:channel_layouts=stereo"


def _meter(sample_rate: int, blocks_file: Path | None) -> str:
    """The loudness meter and the sample counter, as one filter chain.

    volumedetect counts the samples of the music (the gapless bookkeeping needs the exact number; a
    probe's duration is rounded, or estimated for some MP3s); it costs ~2 % of a pass. With
    ``blocks_file`` the meter's momentary loudness of every 100 ms block goes there too."""
    meter = LOUDNESS_FILTER
    if blocks_file is not None:
        # 100 ms frames: the meter then completes exactly one gating block per frame.
        meter = (
            f"asetnsamples=n={sample_rate // 10}:p=0,{LOUDNESS_BLOCKS_FILTER},"
            f"ametadata=mode=print:key=lavfi.r128.M:file={_filter_path(blocks_file)}"
        )
    return f"{meter},volumedetect"


def analysis_argv(
    source: Path,
    fmt: Sniffed,
    sample_rate: int,
    *,
    loudness: bool = True,
    blocks_file: Path | None = None,
    binary: str = FFMPEG,
) -> list[str]:
    """A decode-only pass making what a ladder pass measures, without encoding: the music's exact
    sample count at the ladder's rate (what :mod:`media.hls_plan` plans segments from) and, with
    ``loudness``, its EBU R128 loudness and true peak and (``blocks_file``) its loudness blocks. No
    encoder: the count alone is the decode and the resampler (a 4-minute MP3: 0.25 s of CPU here); the
    meter's true peak (4x oversampled) costs about three times that again."""
    measure = _meter(sample_rate, blocks_file) if loudness else "volumedetect"
    return _decode_only(source, fmt, f"{_resample(sample_rate)},{measure}", binary)


def _decode_only(source: Path, fmt: Sniffed, audio_filter: str, binary: str) -> list[str]:
    """Decode the first audio stream through ``audio_filter`` into nothing; what the filters print at
    log level info is the result."""
    return [
        binary,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "info",
        *input_args(source, fmt),
        "-map",
        "0:a:0",
        "-af",
        audio_filter,
        "-f",
        "null",
        "-",
    ]


_PLAIN_PATH_RE = re.compile(r"^[A-Za-z0-9/._-]+$")


def _filter_path(path: Path) -> str:
    """``path`` for a filter option. Only plain paths: escaping for the two levels of the filter graph
    syntax is easy to get wrong, and the caller chooses the path (a temp file)."""
    text = str(Path(path).absolute())
    if not _PLAIN_PATH_RE.match(text):
        raise ValueError(f"not a plain path for a filter option: {text!r}")
    return text


def loudness_argv(source: Path, fmt: Sniffed, *, binary: str = FFMPEG) -> list[str]:
    """A decode-only pass through the EBU R128 meter (for files not going through the ladder)."""
    return _decode_only(source, fmt, LOUDNESS_FILTER, binary)


def cover_argv(
    source: Path, fmt: Sniffed, dest: Path, *, max_px: int = COVER_MAX_PX, binary: str = FFMPEG
) -> list[str]:
    """Extract the first picture stream (the embedded cover) as a JPEG no larger than ``max_px``.

    Re-encoding (rather than copying the stream) gives one format to serve whatever the file held
    (PNG, BMP, oversized JPEG) and bounds the size of what we store.
    """
    scale = (
        f"scale='min(iw,{max_px})':'min(ih,{max_px})':force_original_aspect_ratio=decrease"
        ":force_divisible_by=2,format=yuvj420p"
    )
    return [
        binary,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        *input_args(source, fmt),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        scale,
        "-c:v",
        "mjpeg",
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        file_url(dest),
    ]
