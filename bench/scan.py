"""Scan throughput and memory: ``harmonystream scan`` over a folder of small real audio files.

    .venv/bin/python bench/scan.py [--files 100000] [--folder DIR]

Generates (once, kept in ``--folder`` when given) ``--files`` small MP3s: one second of a generated tone
encoded by ffmpeg, copied with distinct tags written by mutagen (artist, album, title, track number,
genre), 100 files per album folder under artist folders. Then, each in a fresh data dir with the
embedded store, as a user runs it:

1. ``harmonystream scan FOLDER`` on an empty catalog (every file new);
2. the same again (nothing changed: the no-op rescan);
3. the same after one file's modification time changed (its folder is read back, the file re-read);

each as its own process, timed from start to exit, with its peak RSS (``wait4``) and, summed with
the processes it starts (the tag workers), sampled every 0.1 s from ``/proc``. The references in
the same run, over the same folder: ``find -printf`` listing every file with size and mtime (the walk
a rescan cannot avoid) and mutagen alone reading every file's tags in one process (the tag reads a
first scan cannot avoid). Loopback-free; bounded by the file count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mutagen.easyid3 import EasyID3

GOAL_FIRST = 2000.0
GOAL_RESCAN = 50_000.0
GOAL_RSS_MB = 300.0
GENRES = ["Jazz", "Rock", "Pop", "Electronic", "Hip-Hop", "Classical", "Folk", "Metal", "Soul", "Reggae"]


def make_library(root: Path, count: int) -> None:
    """``count`` distinct small MP3s under ``root`` (kept: a second run with the same count reuses them)."""
    marker = root / f".complete-{count}"
    if marker.exists():
        print(f"reusing {count:,} files in {root}")
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    seed = root / ".seed.mp3"
    tone = ["-f", "lavfi", "-i", "sine=f=440:d=1", "-c:a", "libmp3lame", "-b:a", "32k"]
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *tone, str(seed)], check=True)
    started = time.perf_counter()
    for i in range(count):
        album = i // 100
        folder = root / f"Artist {album // 3:05d}" / f"Album {album:06d}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i % 100 + 1:02d} Track {i}.mp3"
        shutil.copyfile(seed, path)
        tags = EasyID3()
        tags.update(
            {
                "title": f"Track {i}",
                "artist": f"Artist {album // 3}",
                "album": f"Album {album}",
                "tracknumber": str(i % 100 + 1),
                "genre": GENRES[album % len(GENRES)],
            }
        )
        tags.save(path)
        if (i + 1) % 20_000 == 0:
            print(f"  {i + 1:,} files, {time.perf_counter() - started:.0f} s", flush=True)
    seed.unlink()
    marker.touch()


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """(seconds, peak RSS of the process in MB, peak RSS summed over it and its descendants in MB
    (sampled every 0.1 s: the scan's tag workers), output) of a command run to its end."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    peak_tree = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak_tree[0] = max(peak_tree[0], sum(_rss_kb(pid) for pid in _tree(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    done.set()
    sampler.join()
    assert os.waitstatus_to_exitcode(status) == 0, output[-2000:]
    return took, usage.ru_maxrss / 1024, max(peak_tree[0] / 1024, usage.ru_maxrss / 1024), output


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in _tree(int(child)))]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reference_tags(folder: Path) -> float:
    """Seconds for mutagen alone to read every file's tags and duration, in one process."""
    code = (
        "import os, sys, mutagen\n"
        "n = 0\n"
        "for d, _, files in os.walk(sys.argv[1]):\n"
        "    for f in files:\n"
        "        if f.endswith('.mp3'):\n"
        "            m = mutagen.File(os.path.join(d, f), easy=True); n += m.info.length > 0\n"
        "print(n)\n"
    )
    took, _, _, _ = timed([sys.executable, "-c", code, str(folder)])
    return took


def measure(folder: Path, count: int) -> list[str]:
    """Markdown lines: first scan and no-op rescan of ``folder`` (``count`` files) with references."""
    with tempfile.TemporaryDirectory(prefix="hs-bench-scan-") as tmp:
        env = {
            **os.environ,
            "HS_DATA_DIR": str(Path(tmp) / "data"),
            "HS_SECRET_KEY": "bench",
            "HS_LOG_LEVEL": "warning",
        }
        scan = [sys.executable, "-m", "server", "scan", str(folder)]
        first_s, first_rss, first_tree, first_out = timed(scan, env)
        again_s, again_rss, _, again_out = timed(scan, env)
        touched = next(folder.rglob("*.mp3"))
        before = touched.stat()
        os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        try:
            one_s, _, _, one_out = timed(scan, env)
        finally:
            os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns))  # the folder stays reusable
    assert f"{count} added" in first_out, first_out[-2000:]
    assert f"{count} unchanged" in again_out, again_out[-2000:]
    assert f"1 updated, {count - 1} unchanged" in one_out, one_out[-2000:]
    find_s, _, _, _ = timed(["find", str(folder), "-type", "f", "-name", "*.mp3", "-printf", "%s %T@ %p\n"])
    tags_s = reference_tags(folder)
    first_rate, again_rate = count / first_s, count / again_s
    return [
        f"- folder: {count:,} MP3s (1 s, 32 kb/s, distinct tags), 100 per album folder",
        f"- first scan (`harmonystream scan`, whole process): {first_s:.1f} s = {first_rate:,.0f} files/s,"
        f" peak RSS {first_rss:.0f} MB, {first_tree:.0f} MB summed with its tag workers"
        f" (goals ≥ {GOAL_FIRST:,.0f} files/s: {_met(first_rate >= GOAL_FIRST)};"
        f" RSS ≤ {GOAL_RSS_MB:.0f} MB, summed: {_met(first_tree <= GOAL_RSS_MB)})",
        f"  - reference, mutagen alone reading every file's tags: {tags_s:.1f} s"
        f" = {count / tags_s:,.0f} files/s",
        f"- no-op rescan: {again_s:.2f} s = {again_rate:,.0f} files/s, peak RSS {again_rss:.0f} MB"
        f" (goal ≥ {GOAL_RESCAN:,.0f} files/s: {_met(again_rate >= GOAL_RESCAN)})",
        f"  - reference, `find -printf` listing every file with size and mtime: {find_s:.2f} s"
        f" = {count / find_s:,.0f} files/s",
        f"- rescan with one file changed: {one_s:.2f} s = {count / one_s:,.0f} files/s",
    ]


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=None, help="keep the generated files here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hs-bench-music-") as tmp:
        music = args.folder or Path(tmp) / "music"
        make_library(music, args.files)
        print("\n".join(measure(music, args.files)))
