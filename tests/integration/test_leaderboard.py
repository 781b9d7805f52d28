"""The leaderboard over real Redis and PostgreSQL: idempotent batches, ties, gaps, rebuild after loss.

Batches are real score events produced by the quiz service (real PostgreSQL), wrapped in the Kafka
event source mapping's event shape; the notifier is a recording fake at its port.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from quiz.auth import Principal, Role
from quiz.leaderboard.adapters.kafka_ticker import KafkaTicker
from quiz.leaderboard.adapters.redis_store import RedisLeaderboard
from quiz.leaderboard.domain import BoardTick, parse_record
from quiz.leaderboard.kafka_event import board_records, score_events
from quiz.leaderboard.service import LeaderboardService
from quiz.quizzes.outbox import OutboxEvent
from quiz.quizzes.service import QuizService
from tests.conftest import read_records
from tests.integration.leaderboard_support import (
    RecordingPush,
    RecordingSleep,
    RecordingTicker,
    board_tick,
    closed_marker,
    kafka_event,
    play,
    scores_in_redis,
    sums_in_postgres,
)
from tests.integration.quiz_support import make_user

pytestmark = pytest.mark.integration


def test_replayed_and_reordered_batches_leave_scores_equal_to_postgres(world: dict[str, Any], database_url: str) -> None:
    quiz_id, _ = play(world, database_url)
    events: list[OutboxEvent] = world["captured"].events
    board: LeaderboardService = world["board"]

    first = board.apply_batch(list(score_events(kafka_event(events))))
    # a board never seen before is built from PostgreSQL first; the batch then finds nothing newer
    assert (first.rebuilt, first.applied) == (1, 0) and world["push"].boards, "a freshly built board is pushed"
    expected = sums_in_postgres(database_url, quiz_id)
    assert scores_in_redis(board, quiz_id) == expected

    # the same batch again (the ESM retried it), then every event reversed (a reorder): nothing moves
    frames_before = len(world["push"].boards)
    again = board.apply_batch(list(score_events(kafka_event(events))))
    assert again.applied == 0, "a replay changes nothing"
    # ...but still owes the board once, since the first attempt may have died before its push: held
    # (it came within the pace's interval), and pushed when its tick comes back
    assert again.held == 1 and world["ticker"].ticks == [quiz_id]
    board.apply_batch(list(board_records(kafka_event([board_tick(quiz_id)]))))
    assert len(world["push"].boards) == frames_before + 1
    assert world["push"].boards[-1]["top"] == world["push"].boards[-2]["top"]
    board.apply_batch(list(score_events(kafka_event(list(reversed(events))))))
    for single in reversed(events):
        board.apply_batch(list(score_events(kafka_event([single]))))
    assert scores_in_redis(board, quiz_id) == expected

    # on a live board: a new answer applies once, its replay and any older event apply nothing
    quizzes: QuizService = world["quizzes"]
    dee = next(p for p in quizzes.store.participants(quiz_id) if p.display_name == "Dee")

    before = len(events)
    quizzes.answer(Principal(user_id=uuid.UUID(dee.user_id), display_name="Dee", role=Role.PLAYER), quiz_id, 2, "modern", "d2")
    fresh = events[before:]
    assert board.apply_batch(list(score_events(kafka_event(fresh)))).applied == 1
    assert board.apply_batch(list(score_events(kafka_event(fresh + events[:before])))).applied == 0
    expected = sums_in_postgres(database_url, quiz_id)
    assert scores_in_redis(board, quiz_id) == expected

    with psycopg.connect(database_url) as conn:
        persisted = dict(conn.execute("SELECT user_id::text, score FROM leaderboard_standings WHERE quiz_id = %s", (quiz_id,)).fetchall())
    assert persisted == expected, "standings persisted to PostgreSQL"


def test_a_batch_killed_midway_and_retried_whole_counts_once(
    world: dict[str, Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiz_id, _ = play(world, database_url)
    events: list[OutboxEvent] = world["captured"].events
    board: LeaderboardService = world["board"]

    def crash(events: list[Any]) -> None:
        raise RuntimeError("container killed after Redis, before PostgreSQL")

    monkeypatch.setattr(board._standings, "persist", crash)
    with pytest.raises(RuntimeError):
        board.apply_batch(list(score_events(kafka_event(events))))
    monkeypatch.undo()
    board.apply_batch(list(score_events(kafka_event(events))))  # the ESM retries the whole batch
    assert scores_in_redis(board, quiz_id) == sums_in_postgres(database_url, quiz_id)


def test_ranks_ties_and_gaps(world: dict[str, Any], database_url: str) -> None:
    quiz_id, players = play(world, database_url)
    board: LeaderboardService = world["board"]
    push: RecordingPush = world["push"]
    board.apply_batch(list(score_events(kafka_event(world["captured"].events))))

    frame = push.boards[-1]
    assert frame["type"] == "leaderboard" and frame["player_count"] == 4 and len(frame["top"]) == 3
    ranked = board.board.ranked(quiz_id)
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert [s.rank for s in ranked] == [1, 2, 3, 4]
    # Ben (wrong) and Dee (no answer) both have 0: Ben joined earlier, so he reached 0 first
    assert [s.user_id for s in ranked[2:]] == [str(players[1].user_id), str(players[3].user_id)]
    quizzes: QuizService = world["quizzes"]
    assert [s.user_id for s in ranked] == [p.user_id for p in quizzes.store.participants(quiz_id)], (
        "final standings (PostgreSQL) and the live board (Redis) order players the same way"
    )

    mine = push.personal[-1]
    top, second = ranked[0], ranked[1]
    assert mine[second.user_id]["gap_to_next"] == top.score - second.score + 1
    assert mine[top.user_id]["gap_to_next"] == 0 and mine[top.user_id]["rank"] == 1
    seq = frame["seq"]

    # one more answer: one leaderboard frame for the batch, a personal frame only for the player who
    # answered (the tick's cost must not grow with the room), with their new rank and gap
    before = len(world["captured"].events)
    quizzes.answer(players[3], quiz_id, 2, "modern", "d2")
    board.apply_batch(list(score_events(kafka_event(world["captured"].events[before:]))))
    dee, ben = str(players[3].user_id), str(players[1].user_id)
    assert set(push.personal[-1]) == {dee}
    ranked = board.board.ranked(quiz_id)
    assert push.personal[-1][dee]["rank"] == 3 and push.personal[-1][dee]["gap_to_next"] == ranked[1].score - ranked[2].score + 1
    board.apply_batch(list(board_records(kafka_event([board_tick(quiz_id)]))))  # the board, held for the pace
    assert push.boards[-1]["seq"] == seq + 1

    # the question closes: its marker comes behind its scores, and then everyone learns their rank,
    # Ben too, whom Dee passed without Ben answering anything
    board.apply_batch(list(board_records(kafka_event([closed_marker(quiz_id, 2)]))))
    everyone = push.personal[-1]
    assert set(everyone) == {s.user_id for s in ranked}
    assert everyone[ben]["rank"] == 4 and everyone[ben]["gap_to_next"] == ranked[2].score - ranked[3].score + 1
    assert push.boards[-1]["seq"] == seq + 2

    read = board.read(quiz_id, str(players[1].user_id), 2)
    assert [r["rank"] for r in read["top"]] == [1, 2] and read["me"]["rank"] == 4 and read["player_count"] == 4


def test_a_lost_board_is_rebuilt_from_postgres_before_the_next_push_or_read(
    world: dict[str, Any], database_url: str, redis_conn: redis.Redis
) -> None:
    quiz_id, players = play(world, database_url)
    board: LeaderboardService = world["board"]
    events = world["captured"].events
    board.apply_batch(list(score_events(kafka_event(events))))
    expected = sums_in_postgres(database_url, quiz_id)

    seq_before = world["push"].boards[-1]["seq"]
    # Redis loses this quiz's board (what a FLUSHALL or an empty restart does to it)
    redis_conn.delete(*RedisLeaderboard.keys(quiz_id).values())
    assert board.read(quiz_id, str(players[0].user_id), 10)["player_count"] == 4
    assert scores_in_redis(board, quiz_id) == expected

    redis_conn.delete(*RedisLeaderboard.keys(quiz_id).values())
    quizzes: QuizService = world["quizzes"]
    before = len(events)
    quizzes.answer(players[3], quiz_id, 2, "modern", "d2")
    outcome = board.apply_batch(list(score_events(kafka_event(events[before:]))))
    assert outcome.rebuilt == 1
    assert scores_in_redis(board, quiz_id) == sums_in_postgres(database_url, quiz_id)
    assert world["push"].boards[-1]["player_count"] == 4
    assert world["push"].boards[-1]["seq"] > seq_before, "seq never goes backwards, even after Redis lost it"


def test_removed_players_leave_the_board_and_never_come_back_from_old_events(world: dict[str, Any], database_url: str) -> None:
    quiz_id, players = play(world, database_url)
    board: LeaderboardService = world["board"]
    quizzes: QuizService = world["quizzes"]
    host_id = quizzes.store.get(quiz_id)[0].host_id
    host = Principal(user_id=uuid.UUID(host_id), display_name="Host", role=Role.PLAYER)
    quizzes.remove(host, quiz_id, str(players[0].user_id))
    events = world["captured"].events
    board.apply_batch(list(score_events(kafka_event(events))))
    assert str(players[0].user_id) not in scores_in_redis(board, quiz_id)
    board.apply_batch(list(score_events(kafka_event(events[:-1]))))  # older events replayed
    assert str(players[0].user_id) not in scores_in_redis(board, quiz_id)


def test_unreadable_records_are_skipped_not_retried_forever() -> None:
    event = {"records": {"quiz.scores-0": [{"offset": 1, "value": base64.b64encode(b"not json").decode()}]}}
    assert list(score_events(event)) == []


def test_only_the_quizs_host_and_players_read_its_board(world: dict[str, Any], database_url: str) -> None:
    from quiz.errors import NotFound

    quiz_id, players = play(world, database_url)
    board: LeaderboardService = world["board"]
    stranger = make_user(database_url, "Stranger")
    with pytest.raises(NotFound):
        board.read(quiz_id, str(stranger.user_id), 10)
    assert board.read(quiz_id, str(stranger.user_id), 10, is_admin=True)["player_count"] == 4
    assert board.read(quiz_id, str(players[0].user_id), 10)["me"]["user_id"] == str(players[0].user_id)
    with pytest.raises(NotFound):
        board.read("NOSUCH", str(players[0].user_id), 10)


def test_frames_of_one_quiz_are_paced_and_the_last_change_is_still_pushed(world: dict[str, Any], database_url: str) -> None:
    quiz_id, players = play(world, database_url)
    board: LeaderboardService = world["board"]
    sleep: RecordingSleep = world["sleep"]
    events = world["captured"].events
    board.apply_batch(list(score_events(kafka_event(events))))
    assert sleep.waits == [], "the first frame of a quiz goes at once"

    # the next answer comes right away: its batch does not wait (the partition's next answers would wait
    # behind it); the player hears their score, and the board is held with a tick on its way
    quizzes: QuizService = world["quizzes"]
    before = len(events)
    quizzes.answer(players[3], quiz_id, 2, "modern", "d2")
    boards_before = len(world["push"].boards)
    outcome = board.apply_batch(list(score_events(kafka_event(events[before:]))))
    assert (sleep.waits, outcome.held, len(world["push"].boards)) == ([], 1, boards_before)
    assert world["push"].personal[-1][str(players[3].user_id)]["score"] > 0
    assert world["ticker"].ticks == [quiz_id]

    # the tick comes back with nothing else: it waits out the rest of the 100 ms interval, then pushes
    tick = board.apply_batch(list(board_records(kafka_event([board_tick(quiz_id)]))))
    assert len(sleep.waits) == 1 and 0 < sleep.waits[0] <= 0.1
    assert tick.waited_ms == round(sleep.waits[0] * 1000)
    assert len(world["push"].boards) == boards_before + 1, "a trailing push: the last change is never left unsent"
    assert world["push"].boards[-1]["seq"] > world["push"].boards[-2]["seq"]


def test_a_large_rooms_board_is_held_back_without_holding_up_its_players(
    world: dict[str, Any], database_url: str, redis_conn: redis.Redis
) -> None:
    quiz_id, players = play(world, database_url)
    board: LeaderboardService = world["board"]
    sleep: RecordingSleep = world["sleep"]
    push: RecordingPush = world["push"]
    ticker: RecordingTicker = world["ticker"]
    events = world["captured"].events
    board.apply_batch(list(score_events(kafka_event(events))))
    # the last board went to 20,000 connections: at 50,000 frames/s the next may go 400 ms later, more
    # than the 100 ms a batch may wait
    redis_conn.set(RedisLeaderboard.keys(quiz_id)["pushed"], f"{int(time.time() * 1000)}:20000")
    boards = len(push.boards)

    quizzes: QuizService = world["quizzes"]
    before = len(events)
    quizzes.answer(players[3], quiz_id, 2, "modern", "d2")
    outcome = board.apply_batch(list(score_events(kafka_event(events[before:]))))
    dee = str(players[3].user_id)
    assert (outcome.held, outcome.waited_ms, sleep.waits) == (1, 0, []), "nothing waits: the board is held back"
    assert len(push.boards) == boards and dee in push.personal[-1], "the player who answered hears their score at once"
    assert ticker.ticks == [quiz_id]

    # another answer before the tick comes back: still held, and no second tick while one is on its way
    before = len(events)
    quizzes.answer(players[1], quiz_id, 2, "modern", "b2")
    board.apply_batch(list(score_events(kafka_event(events[before:]))))
    assert len(push.boards) == boards and ticker.ticks == [quiz_id]

    # the tick comes back with nothing else for this quiz, ~400 ms before the frame is due: it waits the
    # 100 ms a batch may wait, no longer (the partition's next answers would wait too), and the frame is
    # held again with a new tick
    board.apply_batch(list(board_records(kafka_event([board_tick(quiz_id)]))))
    assert len(push.boards) == boards and sleep.waits[-1] == 0.1 and ticker.ticks == [quiz_id, quiz_id]

    # that tick comes back once the interval has passed: the owed frame goes out, without waiting
    redis_conn.set(RedisLeaderboard.keys(quiz_id)["pushed"], f"{int(time.time() * 1000) - 450}:20000")
    waits = len(sleep.waits)
    board.apply_batch(list(board_records(kafka_event([board_tick(quiz_id)]))))
    assert len(push.boards) == boards + 1 and len(sleep.waits) == waits
    assert push.boards[-1]["top"][0]["score"] >= max(s.score for s in board.board.ranked(quiz_id))

    # a late duplicate of that tick finds nothing owed: no frame, no wait
    waits = len(sleep.waits)
    board.apply_batch(list(board_records(kafka_event([board_tick(quiz_id)]))))
    assert len(push.boards) == boards + 1 and len(sleep.waits) == waits


def test_board_ticks_travel_on_the_quizs_own_partition(new_topic: Callable[[str, int], str], kafka_bootstrap: str) -> None:
    topic = new_topic("test.ticks", 3)
    KafkaTicker(kafka_bootstrap, topic).tick(["QUIZA1", "QUIZB2", "QUIZA1"])
    records = read_records(topic, kafka_bootstrap, expected=3)
    assert [parse_record(r.value) for r in records if r.key == b"QUIZA1"] == [BoardTick("QUIZA1"), BoardTick("QUIZA1")]
    assert len({r.partition for r in records if r.key == b"QUIZA1"}) == 1, "keyed by quiz: behind that quiz's scores"
    assert {r.key for r in records} == {b"QUIZA1", b"QUIZB2"}


def test_a_ticker_that_cannot_reach_kafka_loses_only_the_tick() -> None:
    # In a process of its own: kafka-python leaves the sockets of a producer that never bootstrapped open.
    script = (
        "import logging; logging.basicConfig(); from quiz.leaderboard.adapters.kafka_ticker import KafkaTicker;"
        "KafkaTicker('127.0.0.1:1', 'nowhere', timeout_s=0.5).tick(['QUIZA1']); print('returned')"
    )
    layer = str(Path(__file__).resolve().parents[2] / "layers" / "shared" / "python")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": layer}
    )
    assert done.returncode == 0 and done.stdout.strip() == "returned", done.stderr
    assert "board tick for 1 quiz(zes) not sent" in done.stderr
