"""Benchmark: our transcode() against bare ffmpeg running the same ladder command.

    python bench/transcode.py [--seconds 240] [--rounds 3] [--aac-coder twoloop|fast]

Generates a stereo 44.1 kHz FLAC (three sine tones and two pink-noise beds, different per channel;
noise is the worst case for AAC, so this is a pessimistic load), then alternates, ``--rounds`` times
each: ``transcoder.transcode()`` (probe, the ffmpeg passes with progress parsing, init renaming,
measured master, cover check, validation, atomic publish) and the bare ffmpeg command line that
``media.commands.hls_ladder_argv`` builds for it (two passes side by side on two cores, as transcode()
runs them), with ``subprocess`` and nothing else. Prints the
medians as a markdown table, the ratio ours/bare (goal <= 1.10) and the realtime factor (goal >= 30x).

This script spawns ffmpeg itself on purpose: "bare ffmpeg" means without our code around it.
Everything stays in a temp directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media import commands
from media.ffmpeg import probe
from media.gapless import EDGE_SAMPLES
from media.ladder import AAC_CODERS, DEFAULT_LADDER, Ladder
from transcoder.pipeline import ladder_passes, transcode

RATIO_GOAL = 1.10
REALTIME_GOAL = 30.0


def make_source(path: Path, seconds: int) -> None:
    graph = ";".join(
        [
            f"sine=frequency=220:sample_rate=44100:duration={seconds}[s1]",
            f"sine=frequency=330:sample_rate=44100:duration={seconds}[s2]",
            f"sine=frequency=554.37:sample_rate=44100:duration={seconds}[s3]",
            f"anoisesrc=color=pink:amplitude=0.2:seed=1:sample_rate=44100:duration={seconds}[n1]",
            f"anoisesrc=color=pink:amplitude=0.2:seed=2:sample_rate=44100:duration={seconds}[n2]",
            "[s2]asplit[s2a][s2b]",
            "[s1][s2a][n1]amix=inputs=3[l]",
            "[s3][s2b][n2]amix=inputs=3[r]",
            "[l][r]join=inputs=2:channel_layout=stereo[out]",
        ]
    )
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-c:a",
            "flac",
            str(path),
        ],
        check=True,
        timeout=600,
    )


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (ffmpeg, ffprobe), user + system."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_ours(source: Path, out_dir: Path, ladder: Ladder) -> tuple[float, float]:
    """(wall, CPU) seconds of one transcode()."""
    cpu, started = _cpu_seconds(), time.perf_counter()
    asyncio.run(transcode(source, out_dir, ladder=ladder))
    return time.perf_counter() - started, _cpu_seconds() - cpu


def run_bare(source: Path, out_dir: Path, ladder: Ladder) -> tuple[float, float]:
    """(wall, CPU) seconds of the bare ffmpeg command lines transcode() runs: the same passes, side by
    side, with the same edges."""
    out_dir.mkdir()
    rate = ladder.sample_rate_for(44_100)
    probed = asyncio.run(probe(source))
    tail_from = probed.duration_ms * rate // 1000 - EDGE_SAMPLES
    edges = {"edges": EDGE_SAMPLES, "tail_from": tail_from}
    argvs = [
        commands.hls_ladder_argv(
            source, probed.source, ladder, rate, measure_loudness=i == 0, rungs=rungs, **edges
        )
        for i, rungs in enumerate(ladder_passes(ladder))
    ]
    cpu, started = _cpu_seconds(), time.perf_counter()
    procs = [
        subprocess.Popen(argv, cwd=out_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for argv in argvs
    ]
    for proc in procs:
        if proc.wait(timeout=900) != 0:
            raise RuntimeError(f"ffmpeg exited with {proc.returncode}")
    return time.perf_counter() - started, _cpu_seconds() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=240, help="length of the test file (default 240)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant (default 3)")
    parser.add_argument(
        "--aac-coder",
        choices=AAC_CODERS,
        help="use this AAC search method on every rung (default: the ladder's own per rung)",
    )
    args = parser.parse_args()
    ladder = DEFAULT_LADDER
    if args.aac_coder:
        rungs = tuple(dataclasses.replace(r, aac_coder=args.aac_coder) for r in ladder.rungs)
        ladder = dataclasses.replace(ladder, rungs=rungs)
    coders = "/".join(r.aac_coder for r in ladder.rungs)

    load_before = os.getloadavg()[0]  # other work on the machine skews wall times; say so
    work = Path(tempfile.mkdtemp(prefix="hs-bench-"))
    try:
        source = work / "source.flac"
        make_source(source, args.seconds)
        ours: list[tuple[float, float]] = []
        bare: list[tuple[float, float]] = []
        for round_no in range(args.rounds):
            # Alternate which goes first, so neither always gets the warmer page cache.
            order = [("ours", run_ours, ours), ("bare", run_bare, bare)]
            for name, runner, times in order if round_no % 2 == 0 else order[::-1]:
                out = work / f"{name}-{round_no}"
                times.append(runner(source, out, ladder))
                shutil.rmtree(out)
        medians = {
            name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
            for name, runs in (("ours", ours), ("bare", bare))
        }
        ratio = medians["ours"][0] / medians["bare"][0]
        cpu_ratio = medians["ours"][1] / medians["bare"][1]
        realtime = args.seconds / medians["ours"][0]
        rungs = len(ladder.rungs)
        print(
            f"Transcode of a {args.seconds} s stereo 44.1 kHz FLAC into the {rungs}-rung "
            f"AAC ladder (aac_coder {coders}) + EBU R128 loudness, "
            f"{args.rounds} alternating rounds "
            f"({os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
            f"load average at start: {load_before:.2f})\n"
        )
        print("| run | median wall (s) | wall of each run (s) | median CPU (s) | realtime factor |")
        print("|---|---:|---|---:|---:|")
        for label, name, runs in (("transcode()", "ours", ours), ("bare ffmpeg", "bare", bare)):
            wall, cpu = medians[name]
            each = ", ".join(f"{w:.2f}" for w, _ in runs)
            print(f"| {label} | {wall:.2f} | {each} | {cpu:.2f} | {args.seconds / wall:.1f}x |")
        ok_ratio, ok_realtime = ratio <= RATIO_GOAL, realtime >= REALTIME_GOAL
        print(
            f"\nratio ours/bare (wall): {ratio:.3f} "
            f"(goal <= {RATIO_GOAL:.2f}: {'met' if ok_ratio else 'NOT met'}); CPU: {cpu_ratio:.3f}"
        )
        print(
            f"realtime factor: {realtime:.1f}x (goal >= {REALTIME_GOAL:.0f}x: "
            f"{'met' if ok_realtime else 'NOT met'})"
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
