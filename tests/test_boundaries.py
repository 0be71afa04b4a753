"""The boundaries docs/ARCHITECTURE.md draws, checked on the source so that they stay drawn.

- The Subsonic layer reaches the catalog only through ``CatalogService`` (never its stores, never the
  database).
- Loose documents (``dict[str, Any]``) appear only where documents are what a module handles: the
  stores and the records they answer with, and the wire edges (JSON in and out). Every other module
  speaks in records; the few exceptions are listed here, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOSE = "dict[str, Any]"

DOCUMENT_EDGE = {
    "media/records.py": "records are built from documents and turned back into them",
    "media/catalog_cache.py": "caches records as the BSON of their documents",
    "media/lyrics.py": "the lyrics record's document form",
    "media/loudness.py": "the loudness blocks' document form; ReplayGain tags from a track document",
    "media/gapless.py": "the gapless figures' document form",
    "server/documents.py": "filters built for the stores",
    "server/catalog/store.py": "the tracks collection",
    "server/catalog/album_store.py": "the albums collection",
    "server/catalog/artist_store.py": "the artists collection",
    "server/catalog/deletions.py": "the deletions collection",
    "server/catalog/paging.py": "keyset paging of a collection",
    "server/users/store.py": "the users collection",
    "server/auth/app_passwords.py": "the app_passwords collection",
    "server/playlists/store.py": "the playlists collection",
    "server/playback/store.py": "the play_history collection",
    "server/recommend/store.py": "listening read from play_history",
    "server/subsonic/marks.py": "the annotations collection",
    "server/search/store.py": "reads the catalog collections for the index",
    "server/search/library.py": "the index keeps each item's document as it was stored",
    "server/search/rows.py": "index rows made from stored documents",
    "server/search/service.py": "mirrors stored documents into the index",
    "transcoder/jobs.py": "the jobs collection",
    "transcoder/tracks.py": "the few track writes a worker makes",
    "transcoder/albums.py": "the loudness_blocks collection",
}
WIRE_EDGE = {
    "server/subsonic/protocol.py": "Subsonic answers are JSON objects (or XML made from them)",
    "server/subsonic/routes.py": "Subsonic answers",
    "server/subsonic/browsing.py": "Subsonic answers",
    "server/subsonic/lists.py": "Subsonic answers",
    "server/subsonic/searching.py": "Subsonic answers",
    "server/subsonic/annotations.py": "Subsonic answers",
    "server/subsonic/playlists.py": "Subsonic answers",
    "server/subsonic/system.py": "Subsonic answers",
    "server/openapi.py": "the OpenAPI document",
    "server/api.py": "request bodies before validation, error bodies",
    "server/errors.py": "an error's details, as the API shows them",
    "server/protocol_errors.py": "error bodies",
    "server/realtime/hub.py": "Socket.IO payloads",
    "server/realtime/auth.py": "the Socket.IO handshake",
    "media/events.py": "event payloads published through Redis",
    "media/ffmpeg.py": "ffprobe's JSON",
    "media/tags.py": "mutagen's tag frames",
}
EXCEPTIONS = {
    "server/catalog/service.py": "an edit's changed fields, as the validated API body gives them",
    "server/catalog/ingest.py": "the new track's fields, handed to TrackStore.insert",
    "server/catalog/scan.py": "a scanned track's fields, handed to TrackStore.new_document",
    "server/auth/service.py": "the signed-in user as cached in Redis (JSON)",
    "transcoder/worker.py": "a transcode's results, written as the track's changed fields",
    "transcoder/pipeline.py": "a rendition as stored in tracks.renditions",
}
ALLOWED = DOCUMENT_EDGE | WIRE_EDGE | EXCEPTIONS


def _sources() -> list[Path]:
    out: list[Path] = []
    for package in ("media", "server", "transcoder"):
        out += sorted((ROOT / package).rglob("*.py"))
    return [p for p in out if "docstore" not in p.parts]


def test_loose_documents_stay_at_the_edges() -> None:
    spelled = {str(p.relative_to(ROOT)) for p in _sources() if LOOSE in p.read_text()}
    assert sorted(spelled - set(ALLOWED)) == [], "speak in records here, or add the module with its reason"
    # The table stays true: a module that no longer needs the exception leaves it.
    assert sorted(set(ALLOWED) - spelled) == []
    assert len(EXCEPTIONS) <= 6


def _store_reaches(source: str) -> list[str]:
    """Where ``source`` reaches past the catalog service: ``catalog.tracks``/``albums``/``artists`` (the
    stores behind it), ``keys.DB`` and ``keys.TRACKS`` (the database and the track store)."""
    reached: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in STORES
        ):
            reached.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return reached


STORES = {
    ("catalog", "tracks"),
    ("catalog", "albums"),
    ("catalog", "artists"),
    ("keys", "DB"),
    ("keys", "TRACKS"),
}


def test_subsonic_reaches_the_catalog_only_through_its_service() -> None:
    assert _store_reaches("album = await catalog.albums.find(album_id)") == ["1: catalog.albums"]
    assert _store_reaches("album = await catalog.find_album(album_id)") == []
    reached = {
        path.name: found
        for path in sorted((ROOT / "server" / "subsonic").glob("*.py"))
        if (found := _store_reaches(path.read_text()))
    }
    assert reached == {}
