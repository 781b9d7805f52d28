"""PostgreSQL adapter of the leaderboard's `Standings` port: persisted standings, and the source a lost
board is rebuilt from."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg_pool import ConnectionPool

from quiz.auth.permissions import is_host
from quiz.errors import DependencyUnavailable, NotFound
from quiz.leaderboard.domain import ScoreEvent


class PostgresStandings:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def persist(self, events: list[ScoreEvent]) -> None:
        """Upsert the latest event per player; an older version never overwrites a newer one."""
        if not events:
            return
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO leaderboard_standings (quiz_id, user_id, display_name, score, version, reached_at, removed)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (quiz_id, user_id) DO UPDATE SET display_name = EXCLUDED.display_name, score = EXCLUDED.score,"
                    " version = EXCLUDED.version, reached_at = EXCLUDED.reached_at, removed = EXCLUDED.removed, updated_at = now()"
                    " WHERE leaderboard_standings.version < EXCLUDED.version",
                    [
                        (
                            e.quiz_id,
                            e.user_id,
                            e.display_name,
                            e.score,
                            e.version,
                            datetime.fromtimestamp(e.reached_ms / 1000, UTC),
                            e.removed,
                        )
                        for e in events
                    ],
                )
        except psycopg.OperationalError as exc:
            raise DependencyUnavailable("the database is unavailable") from exc

    def viewer_role(self, quiz_id: str, user_id: str) -> str | None:
        """ "host", "player" (an active participant) or None; raises NotFound for an unknown quiz."""
        try:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "SELECT q.host_id::text, p.status FROM quizzes q LEFT JOIN participants p ON p.quiz_id = q.id AND p.user_id = %s"
                    " WHERE q.id = %s",
                    (user_id, quiz_id),
                ).fetchone()
        except psycopg.OperationalError as exc:
            raise DependencyUnavailable("the database is unavailable") from exc
        if row is None:
            raise NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
        host_id, status = row
        if is_host(user_id, host_id):
            return "host"
        return "player" if status == "active" else None

    def source_of_truth(self, quiz_id: str) -> list[ScoreEvent]:
        """Every participant's current total as the quiz service committed it (to rebuild a lost board)."""
        try:
            with self._pool.connection() as conn:
                rows = conn.execute(
                    "SELECT user_id, display_name, total, version, reached_at, status FROM participants WHERE quiz_id = %s", (quiz_id,)
                ).fetchall()
        except psycopg.OperationalError as exc:
            raise DependencyUnavailable("the database is unavailable") from exc
        return [
            ScoreEvent(
                event_id="rebuild",
                quiz_id=quiz_id,
                user_id=str(user_id),
                display_name=name,
                score=total,
                version=version,
                reached_ms=int(reached_at.timestamp() * 1000),
                removed=status != "active",
            )
            for user_id, name, total, version, reached_at, status in rows
        ]
