"""``TextIndex.listing``: the whole index in one order, kept up to date by small steps, checked against
sorting everything again after every kind of change."""

from __future__ import annotations

import random

from server.search.index import Entry, TextIndex


def expected(index: TextIndex, viewer: str | None, hide: bool) -> list[str]:
    live = [e for e in index.entries if e is not None]
    if hide:
        live = [e for e in live if e.status == "ready" or e.owner_id == viewer]
    return [e.id for e in sorted(live, key=lambda e: (e.title_key, e.id))]


def listed(index: TextIndex, viewer: str | None, hide: bool) -> list[str]:
    slots = index.listing("title", hidden=index.not_ready if hide else None, owner_id=viewer)
    return [index.entries[s].id for s in slots]  # type: ignore[union-attr]


def test_listings_follow_puts_renames_status_changes_and_removals() -> None:
    rng = random.Random(5)
    index = TextIndex()

    def put(n: int) -> None:
        status = "ready" if rng.random() < 0.8 else "processing"
        title = f"{rng.choice('abcdefgh')}{rng.randrange(1000):03d}"
        index.put(Entry(id=f"t{n}", texts=(title,), title_key=title, status=status, owner_id=f"u{n % 3}"))

    for n in range(3000):
        put(n)
    index.warm()  # a snapshot, as the search service makes after its build
    for step in range(60):
        for _ in range(rng.choice((1, 5, 1500))):  # a few changes, or a burst past the insort limit
            action = rng.random()
            n = rng.randrange(4000)
            if action < 0.6:
                put(n)  # new, renamed, or its status changed (a put replaces the entry)
            else:
                index.remove(f"t{n}")
        for viewer, hide in ((None, False), ("u1", True), ("nobody", True)):
            assert listed(index, viewer, hide) == expected(index, viewer, hide), (step, viewer)
    # Unchanged index: the same list is handed out again, not remade.
    assert index.listing("title") is index.listing("title")
