"""Every log line, structlog's or the standard library's, comes out as one JSON object."""

from __future__ import annotations

import json
import logging

import structlog

from server.logging import configure_logging


def test_stdlib_and_structlog_lines_share_the_json_pipeline(capsys):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(json=True, level="info")
    try:
        structlog.get_logger("harmonystream.test").info("ours", answer=42)
        logging.getLogger("aiohttp.server").error("theirs %s", "formatted")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("pymongo.test").exception("with a traceback")
        logging.getLogger("chatty.library").info("below the floor")
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = saved[0], saved[1]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == ["ours", "theirs formatted", "with a traceback"]
    assert lines[0]["answer"] == 42 and lines[0]["level"] == "info"
    assert lines[1]["logger"] == "aiohttp.server" and lines[1]["level"] == "error"
    assert "ValueError: boom" in lines[2]["exception"]
    assert all(line["timestamp"].endswith("Z") for line in lines)
