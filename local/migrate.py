"""Apply the versioned SQL migrations in db/migrations with yoyo (safe to re-run: applied ones are skipped).

python -m local.migrate [DATABASE_URL]
"""

from __future__ import annotations

import os
import sys

from yoyo import get_backend, read_migrations

from local.stack import REPO, load_stack

MIGRATIONS = REPO / "db" / "migrations"


def migrate(url: str) -> int:
    """Apply every pending migration to the database at ``url``; returns how many were applied."""
    backend = get_backend(url.replace("postgresql://", "postgresql+psycopg://", 1))
    migrations = read_migrations(str(MIGRATIONS))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()
    return len(pending)


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DATABASE_URL") or load_stack().postgres.url()
    print(f"applied {migrate(target)} migration(s)")
