"""The catalog: artists, albums and tracks, uploads and folder scans."""
