"""Fenced publishing: a worker that lost its claim on a job never publishes.

A job can be taken over while its first worker still runs (a stalled process, a long pause, a network
partition): the claim ran out of heartbeats and another worker holds it now. Both may reach the publish
step. Each claim carries a :class:`Fence`:

- ``generation``: a per-track number, bumped in the database every time a job of the track is claimed,
  so a later claim always holds a greater one (a re-transcode later on too). A published ladder records
  the generation that made it; a publish never replaces a ladder of a greater generation, and removes
  only ladders of smaller ones.
- ``holds()``: whether the claim is still this worker's, asked at the last moment before the switch.

The check and the switch are made one step against every other publisher: locally under an exclusive
``flock`` of the track's publish lock (``transcoder/pipeline.py``), in a bucket by a conditional put of
the master playlist (``If-Match`` its ETag, ``If-None-Match: *`` when there is none:
``media/publish.py``). A worker frozen between its check and its switch therefore either switches
before the newer claim does (which then replaces it) or finds the switch already made and gives up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class ClaimLost(Exception):
    """The job is another worker's now (or a newer ladder is published): this one must not publish."""


@dataclass(frozen=True, slots=True)
class Fence:
    generation: int
    holds: Callable[[], Awaitable[bool]]

    async def check(self, published: int | None) -> None:
        """:class:`ClaimLost` unless this claim may replace a ladder of generation ``published``."""
        if published is not None and published > self.generation:
            raise ClaimLost(f"generation {published} is published, newer than ours ({self.generation})")
        if not await self.holds():
            raise ClaimLost("the claim on the job was taken over")


GENERATION_FILE = ".generation"
"""In a local ladder directory: the generation that published it (hidden: never served)."""


def version_name(generation: int) -> str:
    """A bucket ladder version: sorts, as text, in generation order."""
    return f"g{generation:012d}"


def version_generation(version: str) -> int:
    """The generation of a version name; -1 for a version older than fencing (``v<hex time>``)."""
    if version.startswith("g") and version[1:].isdigit():
        return int(version[1:])
    return -1
