"""The quiz service's own refusals, each with its HTTP status and stable code (documented in the OpenAPI
document). Raised by the service and by the store adapters alike, so they live beside the domain."""

from __future__ import annotations

from quiz.errors import Conflict, NotFound


class QuizLocked(Conflict):
    code = "quiz_locked"

    def __init__(self) -> None:
        super().__init__("the host has locked this quiz: no new players can join")


class QuizEnded(Conflict):
    code = "quiz_ended"

    def __init__(self) -> None:
        super().__init__("this quiz has ended")


class QuizNotEnded(Conflict):
    """Play again: only a session that is over can be played again (a running one would fork its players)."""

    code = "quiz_not_ended"

    def __init__(self, status: str) -> None:
        super().__init__("only a quiz that has ended can be played again: end it first", details={"status": status})


class RemovedFromQuiz(Conflict):
    status = 403
    code = "removed_from_quiz"

    def __init__(self) -> None:
        super().__init__("the host removed you from this quiz")


class NotAParticipant(Conflict):
    status = 403
    code = "not_a_participant"

    def __init__(self) -> None:
        super().__init__("join the quiz before answering")


class UnknownQuestion(NotFound):
    code = "unknown_question"

    def __init__(self, position: int) -> None:
        super().__init__(f"this quiz has no question {position}", details={"question_id": position})


class IdempotencyKeyReused(Conflict):
    status = 422
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used for a different answer; use a new key per answer")


class NoMoreQuestions(Conflict):
    code = "no_more_questions"

    def __init__(self) -> None:
        super().__init__("that was the last question: end the quiz")


class HostCannotPlay(Conflict):
    code = "host_cannot_play"

    def __init__(self) -> None:
        super().__init__("the host runs the quiz and cannot also play it; open the WebSocket and send join to watch it live")


class DeadlineNotReached(Exception):
    """The clock fired earlier than it can wait for; raising makes the scheduler try again."""

    def __init__(self, quiz_id: str, position: int, seconds_left: float) -> None:
        super().__init__(f"{quiz_id}/{position}: deadline in {seconds_left:.1f} s, more than this invocation can wait")
