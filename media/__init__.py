"""Code shared by the server and the transcoder: ffmpeg, storage layout, tags, HLS profiles and playlists.

Dependency rule: ``server → media ← transcoder``. Nothing in this package imports ``server``,
``transcoder`` or aiohttp, so both sides can use it without dragging the other along.
"""
