"""The embedded document store: a PyMongo-shaped async client over SQLite (see ``engine.py``)."""

from server.docstore.client import EmbeddedClient

__all__ = ["EmbeddedClient"]
