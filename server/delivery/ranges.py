"""Byte ranges as RFC 9110 §14 defines them, decided once so every file answer agrees.

``decide_range`` turns a ``Range`` header and a representation size into one of three answers:
the whole representation (200), some ranges (206), or nothing satisfiable (416). Where the RFC lets a
server choose, the choice follows nginx, which most players have been tested against:

- an unknown range unit is ignored (200) — the RFC requires it;
- a syntactically invalid range set is ignored (200); the RFC allows ignoring or rejecting it, and
  ignoring is what a player can always recover from (nginx rejects with 416);
- ranges whose total exceeds the file, or more than ``max_ranges`` of them, are ignored (200) —
  nginx's defence against overlapping-range amplification, allowed by §14.2;
- unsatisfiable ranges among satisfiable ones are dropped; one left means a plain 206;
- a zero-length file is answered whole (nginx does; the RFC allows ignoring Range).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RANGES = 16
"""More ranges than this in one request are ignored (the whole file is sent)."""

_UNIT_RE = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+)=(.*)$", re.DOTALL)
# Digits are bounded so int() never meets a pathological number; longer ones make the set invalid.
_SPEC_RE = re.compile(r"^(?:(\d{1,30})-(\d{0,30})|-(\d{1,30}))$")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range ``first`` to ``last`` (both within the file)."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` value of this range of a ``size``-byte representation."""
        return f"bytes {self.first}-{self.last}/{size}"


@dataclass(frozen=True, slots=True)
class RangeDecision:
    """What to send: ``ranges`` empty and ``satisfiable`` True means the whole representation."""

    ranges: tuple[ByteRange, ...] = ()
    satisfiable: bool = True

    @property
    def whole(self) -> bool:
        return self.satisfiable and not self.ranges


WHOLE = RangeDecision()
UNSATISFIABLE = RangeDecision(satisfiable=False)


def decide_range(header: str | None, size: int, *, max_ranges: int = MAX_RANGES) -> RangeDecision:
    """The answer to ``Range: header`` for a representation of ``size`` bytes (see the module doc)."""
    if header is None or size <= 0:
        return WHOLE
    match = _UNIT_RE.match(header.strip())
    if match is None or match.group(1).lower() != "bytes":
        return WHOLE
    specs = [s.strip(" \t") for s in match.group(2).split(",")]
    # RFC 9110 §5.6.1: empty list elements are allowed and ignored, but at least one must be present.
    specs = [s for s in specs if s]
    if not specs or len(specs) > max_ranges:
        return WHOLE
    ranges: list[ByteRange] = []
    for spec in specs:
        parsed = _SPEC_RE.match(spec)
        if parsed is None:
            return WHOLE
        first, last, suffix = parsed.groups()
        if suffix is not None:
            length = int(suffix)
            if length == 0:
                continue  # "-0" selects nothing: unsatisfiable (§14.1.1)
            ranges.append(ByteRange(max(0, size - length), size - 1))
            continue
        start = int(first)
        if last and int(last) < start:
            return WHOLE  # an invalid range-spec makes the whole set invalid (§14.1.1)
        if start >= size:
            continue  # unsatisfiable; dropped if another range is satisfiable
        ranges.append(ByteRange(start, min(int(last), size - 1) if last else size - 1))
    if not ranges:
        return UNSATISFIABLE
    if sum(r.length for r in ranges) > size:
        return WHOLE
    return RangeDecision(tuple(ranges))


def unsatisfied_content_range(size: int) -> str:
    """``Content-Range`` of a 416 answer (§14.4)."""
    return f"bytes */{size}"
