"""The leaderboard's pure rules: pacing of frames, personal rank frames, records of the scores topic."""

from __future__ import annotations

import json

import pytest

from quiz.leaderboard.domain import (
    BadScoreEvent,
    QuestionClosed,
    ScoreEvent,
    Standing,
    everyone_ranks,
    parse_record,
    push_interval_ms,
    rank_frame,
    wait_before_push_ms,
)


@pytest.mark.parametrize(
    ("audience", "expected"),
    [(0, 100), (10, 100), (5_000, 100), (10_000, 200), (100_000, 2_000)],
)
def test_the_interval_grows_with_the_room_beyond_what_delivery_carries(audience: int, expected: int) -> None:
    assert push_interval_ms(audience, min_interval_ms=100, fanout_frames_per_s=50_000) == expected


def test_a_tick_waits_only_for_the_rest_of_the_interval() -> None:
    assert wait_before_push_ms(None, 100, 1_000) == 0, "a quiz never pushed goes at once"
    assert wait_before_push_ms(1_000, 100, 1_030) == 70
    assert wait_before_push_ms(1_000, 100, 1_100) == 0
    assert wait_before_push_ms(1_000, 100, 5_000) == 0
    assert wait_before_push_ms(9_000, 100, 1_000) == 100, "a clock that jumped back costs one interval at most"


def test_rank_frames_give_the_gap_to_the_player_above() -> None:
    ranked = [Standing(1, "a", "Ana", 900), Standing(2, "b", "Ben", 900), Standing(3, "c", "Cy", 400)]
    frames = everyone_ranks("Q", ranked)
    assert frames["a"]["gap_to_next"] == 0 and frames["a"]["next_display_name"] is None
    assert frames["b"]["gap_to_next"] == 1, "a tie keeps the earlier player ahead: passing takes one point more"
    assert frames["c"] == rank_frame("Q", ranked[2], 900, "Ben", 3)
    assert frames["c"]["gap_to_next"] == 501 and frames["c"]["player_count"] == 3


def test_records_of_the_scores_topic() -> None:
    score = {
        "type": "score", "event_id": "e1", "quiz_id": "Q", "user_id": "u", "display_name": "Ana", "score": 5, "version": 2,
        "reached_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    assert isinstance(parse_record(json.dumps(score)), ScoreEvent)
    marker = parse_record(json.dumps({"type": "question_closed", "event_id": "e2", "quiz_id": "Q", "question_id": 3}))
    assert marker == QuestionClosed("e2", "Q", 3)
    for bad in (b"not json", json.dumps({"type": "question_closed", "quiz_id": "Q"}), json.dumps({"type": "other"})):
        with pytest.raises(BadScoreEvent):
            parse_record(bad)
