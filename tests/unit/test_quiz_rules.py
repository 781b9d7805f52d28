"""Scoring, typed-answer matching and quiz validation: the pure rules players are judged by."""

from __future__ import annotations

import pytest

from quiz.errors import ValidationFailed
from quiz.quizzes.domain import PIN_ALPHABET, new_quiz_id, normalise_quiz_id, parse_draft
from quiz.quizzes.matching import edit_distance, matches, normalise
from quiz.quizzes.scoring import award, speed_points, streak_points


@pytest.mark.parametrize(
    ("elapsed_ms", "expected"),
    [(0, 1000), (10_000, 750), (20_000, 500), (30_000, 500), (-5, 1000), (1, 1000), (5_000, 875)],
)
def test_speed_points_follow_the_documented_formula(elapsed_ms: int, expected: int) -> None:
    assert speed_points(1000, elapsed_ms, 20_000) == expected


def test_rounding_is_half_up() -> None:
    # 3 × (1 − 0.5/2) = 2.25 → 2 ; 5 × (1 − 0.2/2) = 4.5 → 5 (banker's rounding would give 4)
    assert speed_points(3, 10_000, 20_000) == 2
    assert speed_points(5, 4_000, 20_000) == 5


def test_wrong_answers_earn_nothing_and_streaks_add_a_capped_bonus() -> None:
    assert award(correct=False, points=1000, elapsed_ms=0, limit_ms=20_000, streak_bonus=100, streak=0) == 0
    assert [streak_points(100, n) for n in range(1, 9)] == [0, 100, 200, 300, 400, 500, 500, 500]
    assert award(correct=True, points=1000, elapsed_ms=0, limit_ms=20_000, streak_bonus=100, streak=3) == 1200
    assert award(correct=True, points=1000, elapsed_ms=0, limit_ms=20_000, streak_bonus=0, streak=3) == 1000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Café-au-Lait! ", "cafe au lait"), ("NAÏVE", "naive"), ("it's", "it s"), ("a\tb\n c", "a b c"), ("Straße", "strasse")],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_edit_distance_counts_a_swap_once_and_stops_at_the_limit() -> None:
    assert edit_distance("recieve", "receive", 2) == 1
    assert edit_distance("kitten", "sitting", 5) == 3
    assert edit_distance("abc", "xyz123", 1) == 2


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        ("ephemeral", True),
        ("  EPHEMERAL ", True),
        ("ephemerl", True),  # one typo allowed
        ("ephmerl", False),  # two typos, tolerance 1
        ("short-lived", True),  # another accepted answer, punctuation ignored
        ("short lived", True),
        ("", False),
        ("eternal", False),
    ],
)
def test_typed_answers_match_within_tolerance(given: str, ok: bool) -> None:
    assert matches(given, ["ephemeral", "short-lived"], tolerance=1) is ok


def test_short_words_get_no_typo_allowance() -> None:
    assert not matches("cat", ["car"], tolerance=3)
    assert matches("café", ["cafe"], tolerance=0)


def test_quiz_ids_are_typeable_pins() -> None:
    pin = new_quiz_id()
    assert len(pin) == 6 and set(pin) <= set(PIN_ALPHABET)
    assert normalise_quiz_id(" ab-c2 34 ") == "ABC234"


def _quiz(**question: object) -> dict[str, object]:
    base = {"kind": "multiple_choice", "prompt": "Opposite of 'ancient'?", "choices": ["modern", "old"], "correct_choice": 0}
    return {"title": "Week 1", "questions": [{**base, **question}]}


def test_a_valid_draft_gets_defaults() -> None:
    draft = parse_draft(_quiz())
    q = draft.questions[0]
    assert (q.position, q.time_limit_ms, q.points, q.correct_choice) == (1, 20_000, 1000, 0)
    assert q.public() == {
        "question_id": 1,
        "kind": "multiple_choice",
        "prompt": "Opposite of 'ancient'?",
        "time_limit_ms": 20_000,
        "points": 1000,
        "choices": ["modern", "old"],
    }


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"kind": "essay"}, "questions[0].kind"),
        ({"choices": ["only one"]}, "questions[0].choices"),
        ({"choices": ["same", "SAME"]}, "questions[0].choices"),
        ({"correct_choice": 2}, "questions[0].correct_choice"),
        ({"correct_choice": True}, "questions[0].correct_choice"),
        ({"time_limit_ms": 4_999}, "questions[0].time_limit_ms"),
        ({"time_limit_ms": 300_001}, "questions[0].time_limit_ms"),
        ({"time_limit_ms": 20_000.0}, "questions[0].time_limit_ms"),
        ({"time_limit_ms": "20000"}, "questions[0].time_limit_ms"),
        ({"points": -1}, "questions[0].points"),
        ({"prompt": "   "}, "questions[0].prompt"),
        ({"kind": "typed", "accepted_answers": []}, "questions[0].accepted_answers"),
        ({"kind": "typed", "accepted_answers": ["x"], "typo_tolerance": 4}, "questions[0].typo_tolerance"),
    ],
)
def test_invalid_drafts_name_the_field(patch: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_draft(_quiz(**patch))
    assert err.value.details["field"] == field
    assert err.value.status == 400 and err.value.code == "validation_failed"


def test_a_time_limit_is_whole_milliseconds_and_the_refusal_says_the_range() -> None:
    assert parse_draft(_quiz(time_limit_ms=5_000)).questions[0].time_limit_ms == 5_000
    assert parse_draft(_quiz(time_limit_ms=300_000)).questions[0].time_limit_ms == 300_000
    with pytest.raises(ValidationFailed) as err:
        parse_draft(_quiz(time_limit_ms=20))  # seconds, by mistake
    assert str(err.value) == "questions[0].time_limit_ms must be an integer number of milliseconds from 5000 to 300000"


def test_draft_without_questions_or_title_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="questions"):
        parse_draft({"title": "x", "questions": []})
    with pytest.raises(ValidationFailed, match="title"):
        parse_draft({"questions": [{}]})


def test_answer_shapes_are_checked_per_kind() -> None:
    mc = parse_draft(_quiz()).questions[0]
    assert mc.check_answer_shape(1) == 1
    for bad in (2, -1, "0", True, None):
        with pytest.raises(ValidationFailed):
            mc.check_answer_shape(bad)
    typed = parse_draft(_quiz(kind="typed", accepted_answers=["modern"])).questions[0]
    assert typed.is_correct("Modern") and not typed.is_correct("old")
    with pytest.raises(ValidationFailed):
        typed.check_answer_shape("   ")


def test_a_broker_that_is_down_does_not_stop_the_quiz_service_from_starting() -> None:
    import time as _time

    from quiz.quizzes.adapters.kafka import KafkaScorePublisher

    started = _time.monotonic()
    publisher = KafkaScorePublisher("127.0.0.1:9", timeout_s=1.0)  # nothing listens on port 9
    assert _time.monotonic() - started < 0.5, "building the publisher contacts no broker"
    assert publisher._producer is None


def test_question_closes_are_scheduled_early_by_the_schedulers_precision_never_in_the_past() -> None:
    from datetime import UTC, datetime, timedelta

    from quiz.quizzes.adapters.scheduler import fire_time

    now = datetime(2026, 11, 29, 10, 0, 0, 250_000, tzinfo=UTC)
    far = now + timedelta(seconds=300, milliseconds=400)
    assert fire_time(far, now, 60) == datetime(2026, 11, 29, 10, 4, 0, tzinfo=UTC), "60 s early, whole seconds"
    assert fire_time(far, now, 0) == datetime(2026, 11, 29, 10, 5, 0, tzinfo=UTC), "exact schedulers: the second before the deadline"
    assert fire_time(now + timedelta(seconds=20), now, 60) == datetime(2026, 11, 29, 10, 0, 1, tzinfo=UTC), "never in the past"
    assert fire_time(now + timedelta(milliseconds=900), now, 0) == datetime(2026, 11, 29, 10, 0, 1, tzinfo=UTC)
