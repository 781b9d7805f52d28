"""The ranking is defined once (`quiz.leaderboard.domain.rank_key`); the live board's Lua and ZREVRANGE and the
final standings' SQL ORDER BY each implement it. Both, on the real Redis and PostgreSQL, against the domain's
`ranked_order` on the same sample: score ties, ties of score and millisecond, and a sub-millisecond difference
(which neither side may use)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis

from quiz import db
from quiz.leaderboard.adapters.redis_store import RedisLeaderboard
from quiz.leaderboard.domain import ScoreEvent, ranked_order
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.domain import parse_draft
from tests.integration.quiz_support import QUIZ, make_user

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# (score, reached at, in ms after T0 with sub-millisecond parts)
SAMPLE = [(100, 5.0), (100, 3.0), (100, 3.0), (200, 9.0), (0, 1.0), (100, 3.4), (100, 2.9), (200, 9.0)]


def ms(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_the_redis_board_ranks_as_the_domain_does(redis_url: str) -> None:
    quiz_id = f"R{uuid.uuid4().hex[:7].upper()}"
    players = [(str(uuid.uuid4()), total, T0 + timedelta(milliseconds=at)) for total, at in SAMPLE]
    events = [ScoreEvent("e", quiz_id, u, u[:4], total, 1, ms(at), False) for u, total, at in players]

    board = RedisLeaderboard(redis.Redis.from_url(redis_url))
    board.apply({quiz_id: events})

    assert [s.user_id for s in board.ranked(quiz_id)] == ranked_order([(u, total, ms(at)) for u, total, at in players])
    assert [s.user_id for s in board.views({quiz_id: []}, 3)[quiz_id].top] == ranked_order([(u, t, ms(a)) for u, t, a in players])[:3]


def test_the_final_standings_rank_as_the_domain_does(database_url: str) -> None:
    store = PostgresQuizStore(db.pool(database_url), "quiz.scores.ranking")
    quiz_id = store.create(str(make_user(database_url, "Host").user_id), parse_draft(QUIZ))
    players = []
    for i, (total, at) in enumerate(SAMPLE):
        player = make_user(database_url, f"P{i}")
        store.join(quiz_id, str(player.user_id), player.display_name)
        players.append((str(player.user_id), total, T0 + timedelta(milliseconds=at)))
    with psycopg.connect(database_url) as conn:
        for user_id, total, at in players:
            conn.execute(
                "UPDATE participants SET total = %s, reached_at = %s WHERE quiz_id = %s AND user_id = %s", (total, at, quiz_id, user_id)
            )

    assert [p.user_id for p in store.participants(quiz_id)] == ranked_order([(u, total, ms(at)) for u, total, at in players])
