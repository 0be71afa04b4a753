"""Transcode jobs on the server side: wiring of the queue and in-process workers, and admin routes."""
