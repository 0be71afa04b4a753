"""The library index's listings and searches, checked against sorting and matching everything again
after every kind of change (puts, renames, status changes, removals), and shared between processes."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

from server.search.library import LibraryIndex, Query
from server.search.text import fold, words


def _track(n: int, title: str, status: str, owner: str) -> dict:
    now = datetime(2026, 1, 1)
    return {
        "_id": f"t{n}", "title": title, "artist_id": "a1", "album_id": None, "status": status,
        "owner_id": owner, "play_count": n % 7, "created_at": now, "updated_at": now,
    }  # fmt: skip


def test_listings_and_matches_follow_puts_renames_status_changes_and_removals(tmp_path: Path) -> None:
    rng = random.Random(5)
    index = LibraryIndex(tmp_path / "search")
    assert index.writer
    index.put("artist", {"_id": "a1", "name": "Many", "created_at": datetime(2026, 1, 1)})
    live: dict[str, dict] = {}

    def put(n: int) -> None:
        status = "ready" if rng.random() < 0.8 else "processing"
        title = f"{rng.choice(['Ab', 'Bé', 'Cd', 'De'])}{rng.randrange(1000):03d} {rng.choice(['x', 'song'])}"
        doc = _track(n, title, status, f"u{n % 3}")
        live[doc["_id"]] = doc
        index.put("track", doc)

    for n in range(600):
        put(n)
    index.commit()

    def expected(viewer: str | None, everything: bool, needle: str | None = None) -> list[str]:
        docs = [
            d
            for d in live.values()
            if (everything or d["status"] == "ready" or d["owner_id"] == viewer)
            and (needle is None or any(w.startswith(needle) for w in words(d["title"])))
        ]
        return [d["_id"] for d in sorted(docs, key=lambda d: (fold(d["title"]), d["_id"]))]

    for step in range(15):
        for _ in range(rng.choice((1, 5, 150))):
            n = rng.randrange(800)
            if rng.random() < 0.6:
                put(n)  # new, renamed, or its status changed
            else:
                index.remove("track", f"t{n}")
                live.pop(f"t{n}", None)
        index.commit()
        for viewer, everything in ((None, True), ("u1", False), ("nobody", False)):
            rows, total = index.listing("track", 0, 10_000, viewer_id=viewer, everything=everything)
            assert [r.id for r in rows] == expected(viewer, everything), (step, viewer)
            assert total == len(rows)
            page, _ = index.listing("track", 7, 5, viewer_id=viewer, everything=everything)
            assert [r.id for r in page] == expected(viewer, everything)[7:12]
            # The same through full text: a prefix, sorted by title, with the same visibility.
            query = Query(
                terms=["b"], kinds=("track",), sort="title", limit=50, viewer_id=viewer, everything=everything
            )
            hits = index.search(query)
            assert [r.id for r in hits.rows["track"]] == expected(viewer, everything, "b")[:50], (
                step,
                viewer,
            )
            assert hits.totals["track"] == len(expected(viewer, everything, "b"))
    index.close()


def test_a_second_process_reads_what_the_writer_commits_and_takes_over(tmp_path: Path) -> None:
    """Two handles on one folder behave as two processes would: ``flock`` locks are per open file."""
    writer = LibraryIndex(tmp_path / "search")
    reader = LibraryIndex(tmp_path / "search")
    assert writer.writer and not reader.writer
    assert not reader.try_become_writer()
    writer.put("artist", {"_id": "a1", "name": "Nina Simone", "created_at": datetime(2026, 1, 1)})
    writer.commit()
    reader.reload()
    found = reader.search(Query(terms=["nina"], kinds=("artist",)))
    assert [r.title for r in found.rows["artist"]] == ["Nina Simone"]
    writer.close()  # the writer process is gone: its lock with it
    assert reader.try_become_writer()
    reader.remove("artist", "a1")
    reader.commit()
    assert reader.search(Query(terms=["nina"], kinds=("artist",))).totals["artist"] == 0
    reader.close()


def test_paging_through_continues_where_the_last_page_ended_and_changes_are_seen(tmp_path: Path) -> None:
    """A page asked for at the offset where the last one ended starts from that page's last row (no
    offset walk); the pages are the same as by offset, in this process and in another, and a commit
    from either side in between is seen."""
    writer = LibraryIndex(tmp_path / "search")
    reader = LibraryIndex(tmp_path / "search")
    writer.put("artist", {"_id": "a1", "name": "Many", "created_at": datetime(2026, 1, 1)})
    rng = random.Random(8)
    for n in range(450):
        writer.put("track", _track(n, f"{rng.choice(['Ab', 'Bé', 'cd'])} {rng.randrange(50)}", "ready", "u1"))
    writer.commit()
    reader.reload()

    def pages(index: LibraryIndex) -> list[list[str]]:
        out, offset = [], 0
        while True:
            rows, _ = index.listing("track", offset, 40, viewer_id="u2", everything=False)
            out.append([r.id for r in rows])
            offset += len(rows)
            if len(rows) < 40:
                return out

    everything, total = writer.listing("track", 0, 10_000, viewer_id="u2", everything=False)
    by_offset = [[r.id for r in everything[i : i + 40]] for i in range(0, 480, 40)]
    assert total == 450 and pages(reader) == by_offset and pages(writer) == by_offset
    assert pages(reader) == by_offset  # the second time through, every page after the first continues

    # A change between two pages: the next page is read by offset again, so it shows the change.
    first, _ = reader.listing("track", 0, 40, viewer_id="u2", everything=False)
    writer.put("track", _track(999, "Aaa first of all", "ready", "u1"))
    writer.commit()
    second, _ = reader.listing("track", 40, 40, viewer_id="u2", everything=False)
    assert second[0].id == first[-1].id  # everything moved one place down
    writer.close()
    reader.close()
