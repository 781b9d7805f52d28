"""Failures the CLI reports: every one is a single line saying what went wrong and what to do next."""

from __future__ import annotations

import httpx

from clients.quiz_client import ApiError

DEFAULT_URL = "http://127.0.0.1:8000"
PROG = "python -m clients.cli"
AUTH_CODES = {"token_expired", "invalid_token", "token_revoked", "refresh_token_reused", "missing_token"}


class CliError(Exception):
    """A failure the user can act on; its message is the one line the CLI prints."""


# ---------------------------------------------------------------------------------------- errors


def explain(exc: BaseException, *, quiz_id: str | None = None, quiz_file: str | None = None, url: str = DEFAULT_URL) -> str:
    """One line: what went wrong — what to do next."""
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError):
        return f"cannot reach the quiz server at {url} — start it with `make run`, or pass --url / set QUIZ_URL"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename} — check the path and its permissions"
    if not isinstance(exc, ApiError):
        return f"unexpected error: {exc}"
    error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
    code = exc.code or error.get("code") or ""
    message = str(error.get("message") or exc)
    pin = quiz_id or "?"
    hints: dict[str, str] = {
        "not_found": f"quiz {pin} not found — check the PIN",
        "invalid_credentials": f"wrong username or password — try again, or create an account with `{PROG} signup`",
        "username_taken": f"that username is taken — pick another one, or log in with `{PROG} login`",
        "quiz_locked": f"the host locked quiz {pin} — ask them to unlock it, then join again",
        "quiz_ended": f"quiz {pin} has ended — ask the host for a new PIN",
        "quiz_not_ended": f"quiz {pin} has not ended yet — end it first (`{PROG} host {pin}`, then `end`), then play it again",
        "removed_from_quiz": f"the host removed you from quiz {pin}",
        "not_quiz_host": f"only the account that created quiz {pin} can host it — log in as that account",
        "forbidden": f"you may not do that in quiz {pin} — {message}",
        "no_more_questions": "that was the last question — type `end` to finish the quiz",
        "already_answered": "you already answered this question — wait for the next one",
        "question_closed": "too late: the question closed — wait for the next one",
        "question_not_open": "that question is not open yet — wait for the host",
        "not_a_participant": f"you are not in quiz {pin} — join it with `{PROG} play {pin}`",
        "rate_limited": f"too many attempts — wait {error.get('details', {}).get('retry_after_ms', 0) // 1000 or 'a few'} s and try again",
    }
    if code in AUTH_CODES or (exc.status == 401 and code != "invalid_credentials"):
        return f"your session has expired or was signed out — log in again with `{PROG} login`"
    if code in hints:
        return hints[code]
    if code == "conflict" and "start" in message:
        return f"{message} — the quiz is already running; use `next` or `end`"
    if code in {"invalid_username", "invalid_display_name", "display_name_rejected", "weak_password"}:
        return f"{message} — choose another and run `{PROG} signup` again"
    if code == "validation_failed" and quiz_file:
        field_name = error.get("details", {}).get("field", "")
        where = f" (field {field_name})" if field_name else ""
        return f"{quiz_file} is not a valid quiz{where}: {message} — fix it and run `{PROG} create {quiz_file}` again"
    if exc.status >= 500:
        return f"the server failed ({exc.status} {code}) — try again; if it persists, check the `make run` log"
    return f"{message} ({code or exc.status})"
