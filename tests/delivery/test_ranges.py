"""RFC 9110 §14 range decisions, one case per rule (the file is 1000 bytes)."""

from __future__ import annotations

import pytest

from server.delivery.ranges import UNSATISFIABLE, WHOLE, ByteRange, RangeDecision, decide_range

SIZE = 1000


def partial(*pairs: tuple[int, int]) -> RangeDecision:
    return RangeDecision(tuple(ByteRange(a, b) for a, b in pairs))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, WHOLE),
        ("bytes=0-99", partial((0, 99))),
        ("bytes=0-0", partial((0, 0))),
        ("bytes=500-", partial((500, 999))),
        ("bytes=-100", partial((900, 999))),
        ("bytes=-5000", partial((0, 999))),  # suffix longer than the file: all of it
        ("bytes=990-5000", partial((990, 999))),  # last-pos clamped
        ("bytes=999-999", partial((999, 999))),
        ("BYTES=0-9", partial((0, 9))),  # range units are case-insensitive
        ("bytes=0-9, 20-29", partial((0, 9), (20, 29))),
        ("bytes=0-9,,20-29", partial((0, 9), (20, 29))),  # empty list elements are ignored
        ("bytes=0-9,2000-", partial((0, 9))),  # unsatisfiable members are dropped
        # 416: nothing satisfiable.
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=1000-", UNSATISFIABLE),
        ("bytes=1000-1005", UNSATISFIABLE),
        ("bytes=5000-,-0", UNSATISFIABLE),
        ("bytes=99999999999999999999-", UNSATISFIABLE),
        # Ignored (200): unknown units and invalid sets.
        ("items=0-9", WHOLE),
        ("bytes 0-9", WHOLE),
        ("bytes=", WHOLE),
        ("bytes=abc", WHOLE),
        ("bytes=9-0", WHOLE),
        ("bytes=0-9,x", WHOLE),
        ("bytes=--5", WHOLE),
        ("bytes=1" + "0" * 40 + "-", WHOLE),  # absurdly long numbers make the set invalid
        ("bytes=0-,0-", WHOLE),  # more bytes than the file: an amplification attempt
        ("bytes=" + ",".join(f"{i}-{i}" for i in range(17)), WHOLE),  # too many ranges
    ],
)
def test_decide_range(header: str | None, expected: RangeDecision) -> None:
    assert decide_range(header, SIZE) == expected


def test_empty_file_is_sent_whole() -> None:
    assert decide_range("bytes=0-", 0) == WHOLE
    assert decide_range("bytes=-0", 0) == WHOLE


def test_content_range_text() -> None:
    assert ByteRange(0, 99).content_range(SIZE) == "bytes 0-99/1000"
    assert ByteRange(0, 99).length == 100
