"""Lyrics of tracks: stored once per track, read by the web player, the API and ``/rest``."""
