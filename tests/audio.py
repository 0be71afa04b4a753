"""Real audio files for tests, made with ffmpeg (signal, codec, text tags) and mutagen (covers).

Test helpers may run ffmpeg directly: the "only media/ffmpeg.py spawns ffmpeg" rule is about the
product, and generating fixtures through the code under test would make its bugs invisible.
"""

from __future__ import annotations

import base64
import math
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

FORMATS = ("mp3", "flac", "wav", "ogg", "m4a", "opus")

_CODEC_ARGS: dict[str, list[str]] = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "160k", "-id3v2_version", "3"],
    "flac": ["-c:a", "flac"],
    "wav": ["-c:a", "pcm_s16le"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    "m4a": ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"],
    "opus": ["-c:a", "libopus", "-b:a", "96k"],
}


def make_audio(
    path: Path,
    fmt: str,
    seconds: float = 5.0,
    *,
    tags: Mapping[str, str] | None = None,
    cover: bytes | None = None,
    sample_rate: int = 44_100,
    channels: int = 2,
) -> Path:
    """Write ``seconds`` of a sine tone over pink noise in ``fmt`` to ``path``, with tags and a cover.

    ``tags`` keys are ffmpeg metadata names (title, artist, album, genre, date, track). ``cover`` is
    embedded the format's own way: ID3 APIC, FLAC picture block, MP4 covr, Vorbis METADATA_BLOCK_PICTURE.
    """
    if fmt not in _CODEC_ARGS:
        raise ValueError(f"unknown format {fmt}")
    rate = 48_000 if fmt == "opus" else sample_rate
    layout = "stereo" if channels == 2 else "mono"
    graph = (
        f"sine=frequency=440:sample_rate={rate}:duration={seconds}[s];"
        f"anoisesrc=color=pink:amplitude=0.15:sample_rate={rate}:duration={seconds}:seed=7[n];"
        f"[s][n]amix=inputs=2:normalize=0,aformat=channel_layouts={layout}[out]"
    )
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        *_CODEC_ARGS[fmt],
    ]
    for key, value in (tags or {}).items():
        argv += ["-metadata", f"{key}={value}"]
    if fmt == "wav":
        argv += ["-rf64", "never"]
    argv.append(str(path))
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    if cover is not None:
        embed_cover(path, fmt, cover)
    return path


def embed_cover(path: Path, fmt: str, data: bytes, mime: str = "image/jpeg") -> None:
    """Embed ``data`` as the front cover of an existing file."""
    if fmt == "mp3":
        id3 = ID3(path)
        id3.add(APIC(encoding=3, mime=mime, type=3, desc="Cover", data=data))
        id3.save(path)
    elif fmt == "flac":
        audio = FLAC(path)
        audio.add_picture(_picture(data, mime))
        audio.save()
    elif fmt == "m4a":
        audio = MP4(path)
        kind = MP4Cover.FORMAT_PNG if mime == "image/png" else MP4Cover.FORMAT_JPEG
        audio["covr"] = [MP4Cover(data, imageformat=kind)]
        audio.save()
    elif fmt in ("ogg", "opus"):
        audio = OggVorbis(path) if fmt == "ogg" else OggOpus(path)
        audio["metadata_block_picture"] = [base64.b64encode(_picture(data, mime).write()).decode("ascii")]
        audio.save()
    else:
        raise ValueError(f"no cover support for {fmt} in tests")


def _picture(data: bytes, mime: str) -> Picture:
    picture = Picture()
    picture.type = 3
    picture.mime = mime
    picture.desc = "Cover"
    picture.data = data
    return picture


def make_jpeg(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    """A small real JPEG image."""
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"color=c={color}:s={width}x{height}",
        "-frames:v",
        "1",
        "-c:v",
        "mjpeg",
        "-pix_fmt",
        "yuvj420p",
        "-f",
        "image2pipe",
        "-",
    ]
    return subprocess.run(argv, check=True, capture_output=True, timeout=30).stdout


def make_garbage(path: Path, kind: str, *, source: Path | None = None) -> Path:
    """Bad inputs: ``empty``, ``text`` (prose saved under an audio name), ``truncated`` (first ~half of
    ``source``, cut mid-frame)."""
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("Dear diary, this is not an MP3 at all.\n" * 300, encoding="utf-8")
    elif kind == "truncated":
        assert source is not None
        data = source.read_bytes()
        path.write_bytes(data[: len(data) // 2 + 77])
    else:
        raise ValueError(kind)
    return path


def ffmpeg_decode_errors(url: str, timeout: float = 60) -> tuple[int, str]:
    """Decode ``url`` to the null muxer; (exit code, stderr at level error). Empty stderr = clean."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stderr


def ffprobe_duration(path: Path) -> float:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return float(proc.stdout.strip())


def make_sine(
    path: Path, amplitude: float, seconds: float = 4.0, sample_rate: int = 48_000, frequency: float = 997.0
) -> Path:
    """A stereo WAV sine of exact peak ``amplitude`` (0.1 = -20 dBFS), both channels identical."""
    expr = f"{amplitude}*sin(2*PI*{frequency}*t)"
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc={expr}|{expr}:s={sample_rate}:d={seconds}",
        "-c:a",
        "pcm_s24le",
        str(path),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    return path


def ffmpeg_processes_mentioning(text: str) -> list[int]:
    """Pids of live ffmpeg processes whose command line contains ``text`` (Linux /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
            state = (proc / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        # ffmpeg itself, not any process whose arguments merely mention it (a Python script, say).
        if Path(argv[0]).name == "ffmpeg" and text in " ".join(argv) and state != "Z":
            pids.append(int(proc.name))
    return pids


def tone_share(pcm: bytes, frequency: float, sample_rate: int = 8000) -> float:
    """Share (0-1) of the energy of mono s16le ``pcm`` that lies at ``frequency`` (Goertzel, over
    whole blocks of 0.1 s): near 1 for a pure tone at that frequency, near 0 for silence or others."""
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    block = sample_rate // 10
    coeff = 2 * math.cos(2 * math.pi * frequency / sample_rate)
    at_tone = total = 0.0
    for start in range(0, len(samples) - block + 1, block):
        s1 = s2 = 0.0
        energy = 0.0
        for x in samples[start : start + block]:
            s1, s2 = x + coeff * s1 - s2, s1
            energy += x * x
        at_tone += (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2 / block
        total += energy
    return at_tone / total if total else 0.0
