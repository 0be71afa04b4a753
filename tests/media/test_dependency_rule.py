"""The architecture's rules about media/ and transcoder/, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "media").rglob("*.py"), *(ROOT / "transcoder").rglob("*.py")])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_there_is_something_to_check() -> None:
    assert ROOT / "media" / "ffmpeg.py" in SOURCES
    assert ROOT / "transcoder" / "pipeline.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_media_and_transcoder_never_import_server_or_aiohttp(path: Path) -> None:
    bad = {m for m in _imports(path) if m.split(".")[0] in ("server", "aiohttp")}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if p.parts[-2:] != ("media", "ffmpeg.py")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_media_ffmpeg_spawns_processes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "subprocess" not in _imports(path)
    assert "create_subprocess" not in text
    assert "os.system" not in text and "os.spawn" not in text and "os.popen" not in text


def test_media_does_not_import_transcoder() -> None:
    for path in (ROOT / "media").rglob("*.py"):
        assert not {m for m in _imports(path) if m.split(".")[0] == "transcoder"}, path.name
