"""Scan throughput: ``harmonystream scan`` over 1,000 small generated files, first run and no-op rerun.

Runs the scanner in-process against a fresh embedded store (the one-machine default) in a temp dir.
The files are one short generated MP3 copied 1,000 times across 20 folders with distinct tags (via
mutagen), so generating them takes seconds. Goals (issue 3): ≥ 500 files/s first run, ≥ 10,000 files/s
rerun. Usage: ``.venv/bin/python bench/scan.py [--files 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mutagen.easyid3 import EasyID3

from server.catalog.scan_cli import run_scan
from server.settings import Settings


def make_library(root: Path, count: int) -> None:
    seed = root / "seed.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            str(seed),
        ],
        check=True,
    )
    for i in range(count):
        folder = root / f"artist{i % 20:02d}" / f"album{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:04d}.mp3"
        shutil.copyfile(seed, path)
        tags = EasyID3()
        tags.update(
            {
                "title": f"Track {i}",
                "artist": f"Artist {i % 20}",
                "album": f"Album {i % 100}",
                "tracknumber": str(i % 12 + 1),
                "genre": "Test",
            }
        )
        tags.save(path)
    seed.unlink()


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hs-bench-scan-") as tmp:
        root = Path(tmp) / "music"
        root.mkdir()
        make_library(root, count)
        settings = Settings(data_dir=Path(tmp) / "data", secret_key="bench", log_level="warning")
        quiet = io.StringIO()
        first = await run_scan(settings, root, out=quiet, err=quiet)
        second = await run_scan(settings, root, out=quiet, err=quiet)
        assert first.added == count and second.unchanged == count, (first, second)
        print(f"files: {count}")
        print(f"first run: {first.elapsed_s:.2f} s = {count / first.elapsed_s:,.0f} files/s")
        print(f"no-op rerun: {second.elapsed_s:.3f} s = {count / second.elapsed_s:,.0f} files/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    asyncio.run(main(min(parser.parse_args().files, 20_000)))
