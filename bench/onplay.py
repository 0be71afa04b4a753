"""Ladders on play: how soon a scanned track plays, seeks and keeps playing, beside the eager ladder.

    .venv/bin/python bench/onplay.py [--tracks 24] [--seconds 240] [--rounds 2]

Setup (a temp dir, removed at the end): ``--tracks`` distinct MP3 files of ``--seconds`` (a tone over
pink noise, 192 kbit/s, each with its own tags), scanned by ``harmonystream scan`` with
``HS_SCAN_LADDERS=on-play`` into a fresh embedded data dir, then ``harmonystream serve`` on loopback.
Every request below goes to 127.0.0.1, as a player makes it (aiohttp client, signed URLs):

1. **Scan**: the scan's wall time, the bytes it added to the data dir (nothing is played yet) against
   the library's bytes, and the time from the scan's end until a listener's track list holds every
   track.
2. **First play, one listener**: for unplayed tracks one after another, the time from asking for the
   track's media URLs (the player's first request; it prepares the ladder) through the master
   playlist, the 128k media playlist and its init segment to the last byte of the first segment.
3. **First play, 8 listeners**: 8 unplayed tracks started at the same moment, the same figure each.
4. **Cold seek**: on tracks whose start was played (their first segments made), the time to the last
   byte of the segment at 75 % of the track, never made before.
5. **No stall**: one unplayed track fetched segment after segment as soon as each can be had; each
   segment's slack = when a real-time player starting at the first segment's arrival needs it, minus
   when it arrived (negative = a stall).
6. **The eager reference, in the same run**: the same file transcoded into the whole ladder by
   ``transcoder.pipeline.transcode`` (what a listener waits for before an eager scanned track plays,
   with nothing else queued), and the first segment of a track whose ladder exists (a second play).

Goals (issue "ladders on play"): p95 of (2) <= 1.5 s, of (3) <= 3 s, of (4) <= 2 s, no negative slack
in (5), (1) adds <= 1 % of the library's bytes and lists every track within 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mutagen.easyid3 import EasyID3

from media.playlists import parse_master_playlist, parse_media_playlist
from tests.services import free_port
from transcoder.pipeline import transcode

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-" + "x" * 32
RUNG = "128k"


def make_library(folder: Path, tracks: int, seconds: int) -> int:
    """``tracks`` MP3s (one encode, copied with distinct tags); their total bytes."""
    folder.mkdir(parents=True)
    seed = folder.parent / "seed.mp3"
    graph = (
        f"sine=frequency=330:sample_rate=44100:duration={seconds}[s];"
        f"anoisesrc=color=pink:amplitude=0.2:seed=3:sample_rate=44100:duration={seconds}[n];"
        "[s][n]amix=inputs=2,aformat=channel_layouts=stereo[out]"
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex", graph, "-map", "[out]",
         "-c:a", "libmp3lame", "-b:a", "192k", str(seed)],
        check=True, timeout=600,
    )  # fmt: skip
    total = 0
    for i in range(tracks):
        path = folder / f"Album {i // 12:02d}" / f"{i % 12 + 1:02d} Track {i:03d}.mp3"
        path.parent.mkdir(exist_ok=True)
        shutil.copyfile(seed, path)
        tags = EasyID3(str(path))
        tags.update({"title": f"Track {i:03d}", "artist": "Bench Band", "album": f"Album {i // 12:02d}"})
        tags.save()
        total += path.stat().st_size
    return total


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def env_for(data_dir: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "HS_DATA_DIR": str(data_dir),
        "HS_SECRET_KEY": SECRET,
        "HS_PORT": str(port),
        "HS_LOG_JSON": "true",
        "HS_SCAN_LADDERS": "on-play",
    }


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "server", *args], env=env, cwd=ROOT, check=True, timeout=900,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(name: str, values: list[float], goal: float | None = None) -> str:
    text = (
        f"{name:<44} n={len(values):<3} p50 {statistics.median(values):6.3f} s  p95 {p95(values):6.3f} s"
        f"  max {max(values):6.3f} s"
    )
    if goal is not None:
        text += f"  (goal p95 <= {goal:g} s: {'met' if p95(values) <= goal else 'NOT met'})"
    return text


class Player:
    """What a player fetches, timed."""

    def __init__(self, http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> None:
        self.http, self.base, self.headers = http, base, headers

    async def get(self, url: str) -> bytes:
        async with self.http.get(url) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: {resp.status} {body[:200]!r}")
            return body

    async def urls(self, track_id: str) -> str:
        async with self.http.get(f"{self.base}/api/v1/tracks/{track_id}/media", headers=self.headers) as resp:
            return (await resp.json())["hls_url"]

    async def start(self, track_id: str) -> tuple[float, str, list[str]]:
        """Media URLs → master → media playlist → init → first segment: (seconds, rung URL, segments)."""
        started = time.perf_counter()
        master_url = await self.urls(track_id)
        master = parse_master_playlist((await self.get(master_url)).decode())
        rung_url = urljoin(master_url, next(v.uri for v in master.variants if v.uri.startswith(RUNG)))
        media = parse_media_playlist((await self.get(rung_url)).decode())
        await self.get(urljoin(rung_url, media.map_uri or "init.mp4"))
        await self.get(urljoin(rung_url, media.segments[0].uri))
        return time.perf_counter() - started, rung_url, [s.uri for s in media.segments]


async def measure(base: str, ids: list[str], rounds: int, data_dir: Path, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        player = Player(http, base, headers)
        unplayed = list(ids)
        # 2. one listener, one unplayed track after another.
        single = []
        started: dict[str, tuple[str, list[str]]] = {}
        for _ in range(min(8, len(unplayed) // 3)):
            track_id = unplayed.pop()
            took, rung_url, segments = await player.start(track_id)
            single.append(took)
            started[track_id] = (rung_url, segments)
        print(line("first play, one listener", single, 1.5))
        # 3. eight listeners at once, each on its own unplayed track.
        crowd: list[float] = []
        for _ in range(rounds):
            batch = [unplayed.pop() for _ in range(min(8, len(unplayed) - 1))]
            results = await asyncio.gather(*(player.start(t) for t in batch))
            crowd += [took for took, _, _ in results]
            started.update({t: (url, segs) for t, (_, url, segs) in zip(batch, results, strict=True)})
        print(line("first play, 8 listeners at once", crowd, 3.0))
        # 4. a cold seek to 75 % of tracks whose start was played.
        seeks = []
        for rung_url, segments in list(started.values())[:8]:
            at = segments[int(len(segments) * 0.75)]
            began = time.perf_counter()
            await player.get(urljoin(rung_url, at))
            seeks.append(time.perf_counter() - began)
        print(line("cold seek to 75 %", seeks, 2.0))
        # 5. no stall: one unplayed track, each segment as soon as it can be had.
        track_id = unplayed.pop()
        master_url = await player.urls(track_id)
        rung_url = urljoin(master_url, f"{RUNG}/index.m3u8")
        media = parse_media_playlist((await player.get(rung_url)).decode())
        await player.get(urljoin(rung_url, media.map_uri or "init.mp4"))
        arrived, needed = [], []
        first = None
        played = 0.0
        for segment in media.segments:
            await player.get(urljoin(rung_url, segment.uri))
            now = time.perf_counter()
            if first is None:
                first = now
            arrived.append(now - first)
            needed.append(played)
            played += segment.duration
        slack = [n - a for n, a in zip(needed, arrived, strict=True)]
        print(
            f"{'no stall (one track, segment by segment)':<44} n={len(slack):<3} least slack "
            f"{min(slack[1:]):6.2f} s  (goal > 0: {'met' if min(slack[1:]) > 0 else 'NOT met'}); "
            f"whole track made in {arrived[-1]:.2f} s for {played:.0f} s of music"
        )
        # 6b. a second play: every file there (what an eager ladder gives).
        warm = []
        for track_id in list(started)[:8]:
            took, _, _ = await player.start(track_id)
            warm.append(took)
        print(line("reference: first segment, ladder made", warm))
    made = [p for p in (data_dir / "media" / "hls").rglob("seg_*.m4s")]
    print(f"segments made: {len(made)}, {sum(p.stat().st_size for p in made) / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.tracks < 8 * args.rounds + 8:
        parser.error("--tracks must leave unplayed tracks for every measure (>= 8 * rounds + 8)")
    work = Path(tempfile.mkdtemp(prefix="hs-bench-onplay-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        library = work / "library"
        library_bytes = make_library(library, args.tracks, args.seconds)
        data_dir = work / "data"
        port = free_port()
        env = env_for(data_dir, port)
        cli(env, "migrate")
        cli(env, "create-user", "bench", "--password", "bench-password-1", "--role", "listener")
        with (work / "server.log").open("ab") as log:
            server = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port)],
                                      env=env, cwd=ROOT, stdout=log, stderr=log)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        asyncio.run(_listed(base, 0, time.perf_counter()))  # the server answers, with nothing listed
        # The scan beside the running server, as a self-hoster runs it.
        before = du(data_dir)
        began = time.perf_counter()
        cli(env, "scan", str(library))
        scan_s = time.perf_counter() - began
        added = du(data_dir) - before
        print(
            f"scan of {args.tracks} files ({library_bytes / 1e6:.0f} MB): {scan_s:.2f} s; added "
            f"{added / 1e3:.0f} kB = {100 * added / library_bytes:.3f} % of the library "
            f"(goal <= 1 %: {'met' if added <= 0.01 * library_bytes else 'NOT met'})"
        )
        ids, token, listed_after = asyncio.run(_listed(base, args.tracks, began + scan_s))
        print(f"every track listed to a listener {listed_after:.2f} s after the scan ended (goal <= 10 s)")
        asyncio.run(measure(base, ids, args.rounds, data_dir, token))
        # 6a. the eager ladder of the same file, with nothing else running in this process.
        sample = next(library.rglob("*.mp3"))
        began = time.perf_counter()
        asyncio.run(transcode(sample, work / "eager"))
        eager_s = time.perf_counter() - began
        print(
            f"reference: eager ladder of one {args.seconds} s track: {eager_s:.2f} s before it can play; "
            f"30,000 such tracks: {30_000 * eager_s / 3600:.0f} h of this machine"
        )
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


async def _listed(base: str, tracks: int, scan_ended: float) -> tuple[list[str], str, float]:
    """Sign in as the listener and poll the track list until every track is there."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        deadline = time.monotonic() + 60
        token = ""
        while True:
            try:
                async with http.post(
                    f"{base}/api/v1/auth/login", json={"username": "bench", "password": "bench-password-1"}
                ) as resp:
                    if resp.status == 200:
                        token = (await resp.json())["access_token"]
                        async with http.get(
                            f"{base}/api/v1/tracks?limit=200", headers={"Authorization": f"Bearer {token}"}
                        ) as listing:
                            body = await listing.json()
                        if body.get("total", -1) == tracks:
                            return [t["id"] for t in body["items"]], token, time.perf_counter() - scan_ended
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not list {tracks} tracks within 60 s")
            await asyncio.sleep(0.1)


if __name__ == "__main__":
    main()
