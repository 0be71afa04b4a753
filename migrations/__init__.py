"""Ordered, idempotent database migrations. Each ``mNNNN_name.py`` module has ``async def apply(db)``.

``apply_pending`` records each applied migration in the ``migrations`` collection and holds a lease
there while it runs, so two processes starting at once never apply the same migration twice.
"""

from migrations.runner import MIGRATIONS, apply_pending

__all__ = ["MIGRATIONS", "apply_pending"]
