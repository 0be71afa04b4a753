"""``/api/v1/tracks/{id}/lyrics``: read (whoever may see the track), set and remove (its owners, admins)."""

from __future__ import annotations

from aiohttp import web

from media.lyrics import Lyrics, parse_lyrics
from server import keys
from server.api import ARTIST, SIGNED_IN, Api
from server.errors import Invalid, NotFound
from server.lyrics.schemas import LyricLineOut, LyricsIn, LyricsOut

api = Api("/api/v1")


def lyrics_view(lyrics: Lyrics) -> LyricsOut:
    return LyricsOut(
        synced=lyrics.synced,
        lang=lyrics.lang,
        source=lyrics.source,
        lines=[LyricLineOut(start_ms=line.start_ms, text=line.text) for line in lyrics.lines],
    )


@api.route("GET", "/tracks/{id}/lyrics", roles=SIGNED_IN, response=LyricsOut, tags=["catalog"])
async def get_lyrics(request: web.Request) -> LyricsOut:
    """The track's lyrics: synced lines carry their start in milliseconds. 404 when it has none."""
    track = await request.app[keys.CATALOG].visible_track(request[keys.PRINCIPAL], request.match_info["id"])
    lyrics = await request.app[keys.LYRICS].get(track.id)
    if lyrics is None:
        raise NotFound("This track has no lyrics.")
    return lyrics_view(lyrics)


@api.route("PUT", "/tracks/{id}/lyrics", roles=ARTIST, body=LyricsIn, response=LyricsOut, tags=["catalog"])
async def put_lyrics(request: web.Request, body: LyricsIn) -> LyricsOut:
    """Set the track's lyrics (its uploader and admins): LRC text is synced, anything else plain. They
    replace lyrics read from the file, and a rescan leaves them alone."""
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(request[keys.PRINCIPAL], request.match_info["id"])
    catalog.check_track_owner(request[keys.PRINCIPAL], track)
    lyrics = parse_lyrics(body.text, lang=body.lang, source="upload")
    if lyrics is None:
        raise Invalid("The lyrics hold no text.", details={"fields": {"text": "no text to show"}})
    await request.app[keys.LYRICS].put(track.id, lyrics)
    return lyrics_view(lyrics)


@api.route("DELETE", "/tracks/{id}/lyrics", roles=ARTIST, status=204, tags=["catalog"])
async def delete_lyrics(request: web.Request) -> None:
    """Remove the track's lyrics (its uploader and admins); 404 when it had none."""
    catalog = request.app[keys.CATALOG]
    track = await catalog.visible_track(request[keys.PRINCIPAL], request.match_info["id"])
    catalog.check_track_owner(request[keys.PRINCIPAL], track)
    if not await request.app[keys.LYRICS].delete(track.id):
        raise NotFound("This track has no lyrics.")
