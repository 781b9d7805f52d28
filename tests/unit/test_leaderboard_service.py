"""`LeaderboardService` with in-memory fakes at its ports (tests/unit/fakes.py): batches applied once,
who hears what and when (tests/integration/test_leaderboard.py runs the same service on Redis and PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from quiz.errors import NotFound
from quiz.leaderboard.domain import BoardRecord, BoardTick, QuestionClosed, ScoreEvent
from quiz.leaderboard.service import LeaderboardService, Pacing
from tests.unit.fakes import FakeBoard, FakeNotifier, FakeStandings, FakeTicker

QUIZ = "K7Q2MX"
T0 = 1_767_600_000_000  # ms since the epoch


def score(user: str, total: int, version: int, *, at: int = 0, quiz: str = QUIZ, removed: bool = False) -> ScoreEvent:
    return ScoreEvent(uuid.uuid4().hex, quiz, user, user.title(), total, version, T0 + at, removed)


class Leaderboard:
    """The service on fakes, with a clock of its own that only its sleeps (and a test) move."""

    def __init__(self, pacing: Pacing | None = None) -> None:
        self.board, self.standings, self.notifier, self.ticker = FakeBoard(), FakeStandings(), FakeNotifier(), FakeTicker()
        self.slept: list[float] = []
        self.now = T0 / 1000
        self.service = LeaderboardService(
            self.board, self.standings, self.notifier, ticker=self.ticker, pacing=pacing, sleep=self._sleep, clock=lambda: self.now
        )

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def apply(self, *records: BoardRecord) -> Any:
        return self.service.apply_batch(list(records))

    def scores(self) -> dict[str, int]:
        return {s.user_id: s.score for s in self.board.ranked(QUIZ)}


@pytest.fixture
def lb() -> Leaderboard:
    return Leaderboard()


def test_a_batch_moves_the_board_and_tells_each_player_who_answered_where_they_stand(lb: Leaderboard) -> None:
    outcome = lb.apply(score("ana", 0, 1), score("ben", 0, 1), score("ana", 900, 2, at=5), score("ben", 700, 2, at=6))

    assert lb.scores() == {"ana": 900, "ben": 700}
    assert outcome.applied == 2  # the newest event per player
    [board] = lb.notifier.boards()
    assert [row["user_id"] for row in board["top"]] == ["ana", "ben"] and board["player_count"] == 2
    [ben] = lb.notifier.frames_of("ben", "your_rank")
    assert (ben["rank"], ben["gap_to_next"], ben["next_display_name"]) == (2, 201, "Ana")
    assert {k: e.score for k, e in lb.standings.persisted.items()} == {(QUIZ, "ana"): 900, (QUIZ, "ben"): 700}


def test_a_replayed_or_older_event_changes_nothing(lb: Leaderboard) -> None:
    lb.apply(score("ana", 900, 2))
    replay = lb.apply(score("ana", 900, 2), score("ana", 0, 1))

    assert replay.applied == 0
    assert lb.scores() == {"ana": 900}
    assert lb.standings.persisted[(QUIZ, "ana")].version == 2


def test_a_removed_player_leaves_the_board(lb: Leaderboard) -> None:
    lb.apply(score("ana", 900, 2), score("ben", 100, 2))
    lb.apply(score("ana", 900, 3, removed=True))

    assert lb.scores() == {"ben": 100}


def test_a_question_close_tells_everyone_their_rank_even_those_who_did_not_answer(lb: Leaderboard) -> None:
    lb.apply(score("ana", 500, 2, at=1), score("ben", 500, 2, at=2), score("cy", 0, 1))
    lb.notifier.personal.clear()

    lb.apply(QuestionClosed("m-1", QUIZ, 1))

    ranks = {user: f["rank"] for _, user, f in lb.notifier.personal if f["type"] == "your_rank"}
    assert ranks == {"ana": 1, "ben": 2, "cy": 3}  # equal scores: who reached it first ranks higher
    assert lb.notifier.frames_of("ben", "your_rank")[-1]["gap_to_next"] == 1


def test_a_lost_board_is_rebuilt_from_the_committed_totals_before_the_batch(lb: Leaderboard) -> None:
    lb.standings.truth[QUIZ] = [score("ana", 300, 4), score("ben", 200, 3)]

    outcome = lb.apply(score("ben", 250, 4))

    assert outcome.rebuilt == 1
    assert lb.scores() == {"ana": 300, "ben": 250}


def test_a_board_frame_that_comes_too_soon_is_held_and_sent_when_its_tick_comes_back() -> None:
    lb = Leaderboard(Pacing(min_interval_ms=1_000, fanout_frames_per_s=5_000, max_wait_ms=100))
    lb.apply(score("ana", 100, 2))
    second = lb.apply(score("ana", 200, 3))

    assert len(lb.notifier.boards()) == 1 and second.held == 1  # the players' own frames went; the board waits
    assert lb.notifier.frames_of("ana", "your_rank")[-1]["score"] == 200
    assert lb.ticker.ticked == [QUIZ]

    lb.now += 0.95  # the tick comes back 50 ms before the frame is due
    lb.apply(BoardTick(QUIZ))

    assert [b["top"][0]["score"] for b in lb.notifier.boards()] == [100, 200]  # the last change is never left unsent
    assert lb.slept == [pytest.approx(0.05)]  # waited out the rest of the interval first


def test_a_tick_back_long_before_its_frame_is_due_waits_max_wait_at_most_then_is_held_again() -> None:
    """The partition's next batch (other players' answers) waits behind this one: a 1 s interval's tick
    must not keep it waiting for most of that second."""
    lb = Leaderboard(Pacing(min_interval_ms=1_000, fanout_frames_per_s=5_000, max_wait_ms=100))
    lb.apply(score("ana", 100, 2))
    lb.apply(score("ana", 200, 3))
    lb.now += 0.02

    early = lb.apply(BoardTick(QUIZ))

    assert lb.slept == [pytest.approx(0.1)] and early.held == 1
    assert len(lb.notifier.boards()) == 1 and lb.ticker.ticked == [QUIZ, QUIZ], "still owed, with a new tick on its way"

    lb.now += 0.9
    lb.apply(BoardTick(QUIZ))
    assert [b["top"][0]["score"] for b in lb.notifier.boards()] == [100, 200]


def test_a_batch_of_scores_never_waits_its_board_goes_with_the_first_batch_after_the_interval() -> None:
    lb = Leaderboard(Pacing(min_interval_ms=50, fanout_frames_per_s=5_000, max_wait_ms=100))
    lb.apply(score("ana", 100, 2))
    soon = lb.apply(score("ana", 200, 3))  # 50 ms early: the next batch of this partition must not wait for it

    assert (lb.slept, soon.held, lb.ticker.ticked) == ([], 1, [QUIZ])
    assert lb.notifier.frames_of("ana", "your_rank")[-1]["score"] == 200

    lb.now += 0.06
    lb.apply(score("ben", 50, 2), BoardTick(QUIZ))  # more answers (and the tick) after the interval

    assert [b["top"][0]["score"] for b in lb.notifier.boards()] == [100, 200]
    assert lb.slept == [] and lb.ticker.ticked == [QUIZ]


def test_a_tick_back_alone_shortly_before_its_frame_is_due_waits_for_it() -> None:
    lb = Leaderboard(Pacing(min_interval_ms=50, fanout_frames_per_s=5_000, max_wait_ms=100))
    lb.apply(score("ana", 100, 2))
    lb.apply(score("ana", 200, 3))

    lb.apply(BoardTick(QUIZ))  # no other answer came: this batch waits the 50 ms and sends the frame

    assert [b["top"][0]["score"] for b in lb.notifier.boards()] == [100, 200]
    assert lb.slept == [pytest.approx(0.05)] and lb.ticker.ticked == [QUIZ]


def test_only_the_quizs_host_and_players_may_read_its_board(lb: Leaderboard) -> None:
    lb.standings.roles = {(QUIZ, "host"): "host", (QUIZ, "ana"): "player"}
    lb.apply(score("ana", 100, 2))

    assert lb.service.read(QUIZ, "ana", 10)["me"]["rank"] == 1
    assert lb.service.read(QUIZ, "host", 10)["top"][0]["user_id"] == "ana"
    assert lb.service.read(QUIZ, "eve", 10, is_admin=True)["player_count"] == 1
    with pytest.raises(NotFound):
        lb.service.read(QUIZ, "eve", 10)
