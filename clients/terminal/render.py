"""Terminal output: the lines a question, a result, a leaderboard or the final standings print as."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

BOARD_ROWS = 5


def seconds(ms: float) -> int:
    return max(0, int((ms + 999) // 1000))


def render_question(question: dict[str, Any], remaining_ms: float, question_count: int | None = None) -> list[str]:
    qid = question.get("question_id")
    of = f"/{question_count}" if question_count else ""
    lines = [
        "",
        f"── Question {qid}{of} · {question.get('points', 0)} points · {seconds(remaining_ms)} s ──",
        f"  {question.get('prompt', '')}",
    ]
    if question.get("kind") == "multiple_choice":
        lines += [f"    {i}) {choice}" for i, choice in enumerate(question.get("choices", []), 1)]
        lines.append(f"  answer with a number 1-{len(question.get('choices', []))}:")
    else:
        lines.append("  type your answer and press Enter:")
    return lines


def render_answer_result(frame: dict[str, Any]) -> str:
    streak = f", streak {frame['streak']}" if frame.get("streak", 0) > 1 else ""
    if frame.get("correct"):
        return f"✓ correct! +{frame.get('points', 0)} points (score {frame.get('score', 0)}{streak})"
    return f"✗ wrong — 0 points (score {frame.get('score', 0)})"


def render_leaderboard(frame: dict[str, Any], me: str | None = None, rows: int = BOARD_ROWS) -> list[str]:
    top = frame.get("top") or []
    count = frame.get("player_count", len(top))
    lines = [f"leaderboard · {count} player{'s' if count != 1 else ''}"]
    if not top:
        lines.append("  (no scores yet)")
    for row in top[:rows]:
        mark = ">" if me and row.get("user_id") == me else " "
        you = "  ← you" if mark == ">" else ""
        lines.append(f" {mark}{row.get('rank', '?'):>3}. {str(row.get('display_name', ''))[:24]:<24} {row.get('score', 0):>7}{you}")
    return lines


def render_rank(frame: dict[str, Any]) -> str:
    line = f"you are #{frame.get('rank')} of {frame.get('player_count')} with {frame.get('score', 0)} points"
    if frame.get("next_display_name"):
        line += f" — {frame.get('gap_to_next')} more to pass {frame['next_display_name']}"
    elif frame.get("rank") == 1:
        line += " — in the lead!"
    return line


def correct_answer_text(frame: dict[str, Any]) -> str:
    if "correct_answer" in frame:
        return str(frame["correct_answer"])
    return " / ".join(str(a) for a in frame.get("accepted_answers", []))


def render_question_closed(frame: dict[str, Any]) -> list[str]:
    lines = [f"── question {frame.get('question_id')} closed · answer: {correct_answer_text(frame)}"]
    mine = frame.get("your_result")
    if mine is not None:
        if not mine.get("answered"):
            lines.append(f"   you did not answer (score {mine.get('score', 0)})")
        elif mine.get("correct"):
            lines.append(f"   you were right: +{mine.get('points', 0)} (score {mine.get('score', 0)})")
        else:
            lines.append(f"   you were wrong: 0 points (score {mine.get('score', 0)})")
    elif "answers" in frame:
        lines.append(f"   {frame['answers']} answer{'s' if frame['answers'] != 1 else ''} received")
    return lines


def render_standings(standings: list[dict[str, Any]], me: str | None = None) -> list[str]:
    lines = ["", "══ final standings ══"]
    if not standings:
        lines.append("  nobody played")
    for row in standings:
        you = "  ← you" if me and row.get("user_id") == me else ""
        lines.append(f" {row.get('rank', '?'):>3}. {str(row.get('display_name', ''))[:24]:<24} {row.get('score', 0):>7}{you}")
    return lines


def emit(out: TextIO, lines: Iterable[str]) -> None:
    for line in lines:
        out.write(line + "\n")
    out.flush()
