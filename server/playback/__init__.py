"""Playback: per-user state in Redis, play history and play counts in the database, REST routes."""
