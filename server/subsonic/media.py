"""Media methods: ``stream``, ``download``, ``getCoverArt``, ``hls.m3u8``.

``download``, and ``stream`` unless it asks for less, send the original with RFC 9110 byte ranges
through the same delivery code as ``/api/v1/tracks/{id}/stream``. A ``stream`` that asks for a
``maxBitRate`` under the original's, any ``format`` but ``raw``, or a ``timeOffset`` gets a rung of
the ladder instead, as one progressive AAC file (:mod:`server.delivery.joined`): no transcode at request
time, an exact length, byte ranges. Every ``format`` but ``raw`` gets AAC (``audio/mp4``), the one codec
of our ladder; apps read the Content-Type. A ``timeOffset`` starts at the segment holding it (segments
are ~6 s). Streaming never counts a play: only a ``scrobble`` with ``submission=true`` does.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from aiohttp import web

from media.commands import COVER_MAX_PX
from media.errors import PlaylistError
from media.ffmpeg import extract_cover
from media.ladder import DEFAULT_LADDER
from media.playlists import Variant, parse_master_playlist, render_master_playlist
from media.records import Rendition, Track
from server import keys
from server.catalog.cover import cover_answer
from server.catalog.upload import open_temp
from server.delivery.files import FilePolicy
from server.delivery.joined import join_rendition, join_stored_rendition, send_joined
from server.delivery.service import PRIVATE_ORIGINAL_CACHE
from server.subsonic.auth import Caller
from server.subsonic.protocol import NotFound, Params

RENDITION_POLICY = FilePolicy("audio/mp4", PRIVATE_ORIGINAL_CACHE)
NOMINAL_RENDITIONS = tuple(Rendition(r.name, r.codec, r.bitrate) for r in DEFAULT_LADDER.rungs)
"""The rungs a ladder made on play can have, before any is made."""


async def stream(request: web.Request, params: Params, caller: Caller | None) -> web.StreamResponse:
    assert caller is not None
    track = await request.app[keys.CATALOG].visible_track(caller.principal, params.required("id"))
    service = request.app[keys.DELIVERY]
    offset = params.integer("timeOffset", 0) or 0
    rung = stream_rung(track, params.get("format"), params.integer("maxBitRate", 0) or 0, offset)
    if rung is not None and track.on_play and keys.ONPLAY in request.app:
        # A ladder made on play: the rung's segments from the offset on are made now (a run of one rung
        # goes tens of times faster than real time), then joined like any other.
        ladders = request.app[keys.ONPLAY]
        await ladders.prepare(track)
        gapless = await ladders.complete(track.id, rung, offset)
        rung_made = gapless is not None
    else:
        gapless, rung_made = track.gapless, bool(track.renditions)
    if rung is not None and rung_made:
        root = service.confine_root
        # Segments are cut on the rung's own timeline, which starts with what the edit list trims.
        at = offset + (gapless.priming_samples / gapless.sample_rate if gapless else 0.0)
        if service.remote:
            joined = await join_stored_rendition(service.store, track.id, rung, at)
            return await send_joined(request, joined, RENDITION_POLICY, confine_to=root, store=service.store)
        joined = await asyncio.to_thread(join_rendition, root, track.id, rung, at)
        return await send_joined(request, joined, RENDITION_POLICY, confine_to=root)
    return await download(request, params, caller, track)


def stream_rung(track: Track, fmt: str | None, max_kbps: int, offset: int) -> str | None:
    """The rung ``stream`` answers with, or None for the original.

    The original when asked for (``raw``), when there is no ladder, or when nothing asks for less than
    it: no format, no offset and a ``maxBitRate`` (kbps, 0 = none) it fits. Otherwise the highest rung
    at or under ``maxBitRate`` (the lowest when none fits), or the highest rung when there is no limit.
    """
    fmt = (fmt or "").lower()
    renditions = track.renditions or (NOMINAL_RENDITIONS if track.on_play else ())
    if fmt == "raw" or not track.playable or not renditions:
        return None
    if not fmt and not offset:
        if not max_kbps:
            return None
        original = track.original
        seconds = (track.duration_ms or 0) / 1000
        if original and original.size and seconds and original.size * 8 / seconds <= max_kbps * 1000:
            return None
    rungs = sorted(renditions, key=lambda r: r.bitrate)
    fitting = [r for r in rungs if not max_kbps or r.bitrate <= max_kbps * 1000]
    return fitting[-1].name if fitting else rungs[0].name


async def download(
    request: web.Request, params: Params, caller: Caller | None, track: Track | None = None
) -> web.StreamResponse:
    """The original file, with byte ranges (``download``, and ``stream`` when it gets the original)."""
    assert caller is not None
    if track is None:
        track = await request.app[keys.CATALOG].visible_track(caller.principal, params.required("id"))
    service = request.app[keys.DELIVERY]
    path = service.original_of(track)
    mime = track.original.mime if track.original else None
    return await service.answer(request, path, service.original_policy(path, signed=False, mime=mime))


async def get_cover_art(request: web.Request, params: Params, caller: Caller | None) -> web.StreamResponse:
    """The cover of a track (album covers are named by one of their tracks' ids)."""
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(caller.principal, params.required("id"))
    size = params.integer("size", None, low=1)
    if size is None or size >= COVER_MAX_PX:
        return await cover_answer(request, catalog, track)
    # A smaller copy for list views, made for this answer (covers are at most 1200 px, so it is quick).
    tmp_dir = request.app[keys.SETTINGS].tmp_dir
    dest, handle = await asyncio.to_thread(open_temp, tmp_dir, "cover-")
    fetched = dest.with_name(dest.name + ".source.jpg")
    try:
        if catalog.bucket is not None and track.cover:
            await catalog.bucket.fetch(track.cover, fetched)
            source = fetched
        else:
            source = catalog.cover_file(track)
        await extract_cover(source, dest, max_px=max(16, size))
        data = await asyncio.to_thread(dest.read_bytes)
    finally:
        handle.close()
        await asyncio.to_thread(dest.unlink, missing_ok=True)
        await asyncio.to_thread(fetched.unlink, missing_ok=True)
    return web.Response(
        body=data, headers={"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=3600"}
    )


async def hls_playlist(request: web.Request, params: Params, caller: Caller | None) -> web.StreamResponse:
    """``hls.m3u8``: a master playlist of the track's ladder, its variants absolute signed URLs.

    One ``bitRate`` (kbps) keeps the highest rung at or under it (the lowest when none is); several
    keep one rung for each, an adaptive ladder for players to choose from; none keeps them all.
    """
    assert caller is not None
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(caller.principal, params.required("id"))
    if not track.playable:
        raise NotFound("This track has no HLS ladder yet.")
    if track.on_play and keys.ONPLAY in request.app:
        await request.app[keys.ONPLAY].prepare(track)  # a scanned track's ladder is made on play
    try:
        master = parse_master_playlist(
            await request.app[keys.DELIVERY].read_text(f"hls/{track.id}/master.m3u8")
        )
    except PlaylistError as exc:
        raise NotFound("This track has no HLS ladder.") from exc
    wanted = [int(b) * 1000 for b in params.all("bitRate") if b.isdigit() and int(b) > 0]
    variants = sorted(master.variants, key=lambda v: v.bandwidth or 0)
    if wanted:
        chosen = {_nearest(variants, limit) for limit in wanted}
        variants = [v for v in variants if v in chosen]
    urls = request.app[keys.DELIVERY].urls(request, track.id, caller.user.id)
    base = urls.hls_url.rsplit("/", 1)[0]
    absolute = [replace(v, uri=f"{base}/{v.uri}") for v in variants]
    body = render_master_playlist(replace(master, variants=tuple(absolute)))
    return web.Response(
        text=body, content_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-store"}
    )


def _nearest(variants: list[Variant], limit: int) -> Variant:
    fitting = [v for v in variants if (v.bandwidth or 0) <= limit]
    return fitting[-1] if fitting else variants[0]
