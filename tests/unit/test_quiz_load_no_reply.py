"""bench.quiz_load looks up the answers that got no reply (API Gateway's timeout; their invocations go on
running) in the database after the quiz: when it stops looking, and what it reports (pure logic, a fake
database)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bench.quiz_load.cli import settle_no_reply
from bench.quiz_load.scenario import ScenarioRun, ScenarioSpec


class RecordingDatabase:
    """The seeder's lookup: each call returns the next set of recorded (quiz, question, user)."""

    def __init__(self, *answers: set[tuple[str, int, str]]) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    def recorded_answers(self, quiz_ids: Sequence[str]) -> set[tuple[str, int, str]]:
        self.calls.append(list(quiz_ids))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def run() -> ScenarioRun:
    return ScenarioRun(ScenarioSpec(rooms=1, players=3))


def settle(pending: dict[tuple[str, int, str], Any], database: RecordingDatabase, **kw: Any) -> ScenarioRun:
    scenario = run()
    asyncio.run(settle_no_reply(pending, scenario, database, progress=False, poll_s=0.001, **{"wait_s": 5.0, **kw}))  # type: ignore[arg-type]
    return scenario


A, B, C = ("Q1", 1, "a"), ("Q1", 1, "b"), ("Q2", 2, "c")


def test_it_looks_until_every_answer_without_a_reply_is_recorded() -> None:
    database = RecordingDatabase({A}, {A, B, ("Q1", 1, "someone else")}, {A, B, C})
    scenario = settle(dict.fromkeys([A, B, C]), database)
    assert scenario.no_reply_recorded == 3
    assert database.calls == [["Q1", "Q2"]] * 3, "one query for the quizzes concerned, until all three were found"


def test_it_stops_when_nothing_new_came_for_a_while_and_reports_what_is_missing() -> None:
    database = RecordingDatabase({A})
    scenario = settle(dict.fromkeys([A, B]), database, quiet_s=0.05)
    assert scenario.no_reply_recorded == 1
    assert len(database.calls) > 2, "it looked again before giving up"


def test_it_stops_at_the_wait_limit() -> None:
    database = RecordingDatabase(set())
    scenario = settle(dict.fromkeys([A]), database, wait_s=0.05, quiet_s=60)
    assert scenario.no_reply_recorded == 0


def test_nothing_to_look_up_when_every_answer_got_a_reply() -> None:
    database = RecordingDatabase()
    scenario = settle({}, database)
    assert (scenario.no_reply_recorded, scenario.no_reply_settled_s, database.calls) == (0, 0.0, [])
