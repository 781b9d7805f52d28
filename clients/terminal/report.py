"""After the quiz, in a terminal: the host's report (questions with text bars, the players' table), the CSV
tables written to a directory, and a learner's results with the words to practise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from clients.terminal.errors import CliError

BAR_WIDTH = 24  # characters for the most given answer
LABEL_WIDTH = 24
CSV_TABLES = ("players", "questions", "answers")


def _seconds(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


def _percent(x: float | None) -> str:
    return "—" if x is None else f"{round(x * 100)} %"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def distribution_rows(question: dict[str, Any]) -> list[tuple[str, int, bool]]:
    """(label, count, is the right answer) for each bar: every choice, or for a typed question the right
    answers (every accepted spelling together) and the most common wrong ones."""
    if question.get("kind") == "multiple_choice":
        return [(str(c["text"]), int(c["count"]), bool(c["correct"])) for c in question.get("choices", [])]
    rows = [(f"right: {question.get('correct_answer', '')}", int(question.get("correct", 0)), True)]
    return rows + [(str(w["answer"]), int(w["count"]), False) for w in question.get("wrong_answers", [])]


def bar(count: int, most: int, width: int = BAR_WIDTH) -> str:
    """A text bar: ``width`` blocks for the most given answer, at least one block for any answer given."""
    if count <= 0 or most <= 0:
        return ""
    return "█" * max(1, round(width * count / most))


def render_report(report: dict[str, Any]) -> list[str]:
    count = report.get("player_count", 0)
    lines = [
        f"══ report · {report.get('title', '')} · {report.get('quiz_id', '')} · {report.get('status', '')} · "
        f"{count} player{'s' if count != 1 else ''} ══"
    ]
    for q in report.get("questions", []):
        lines += ["", f"Q{q.get('question_id')}. {q.get('prompt', '')}"]
        if not q.get("opened"):
            lines.append("   not asked")
            continue
        lines.append(
            f"   accuracy {_percent(q.get('accuracy'))} · median time {_seconds(q.get('median_answer_ms'))} · "
            f"{q.get('answered', 0)} answer{'s' if q.get('answered') != 1 else ''} · answer: {q.get('correct_answer', '')}"
        )
        rows = distribution_rows(q)
        most = max((n for _, n, _ in rows), default=0)
        for label, n, right in rows:
            lines.append(f"   {'✓' if right else ' '} {_cut(label, LABEL_WIDTH):<{LABEL_WIDTH}} {bar(n, most):<{BAR_WIDTH}} {n}")
    lines += ["", f" {'#':>3}  {'player':<24} {'score':>7} {'correct':>9} {'avg time':>9} {'streak':>6}"]
    if not report.get("players"):
        lines.append("  nobody played")
    for p in report.get("players", []):
        correct = f"{p.get('correct', 0)}/{p.get('answered', 0)}"
        lines.append(
            f" {p.get('rank', '?'):>3}. {_cut(str(p.get('display_name', '')), 24):<24} {p.get('score', 0):>7} {correct:>9} "
            f"{_seconds(p.get('average_answer_ms')):>9} {p.get('longest_streak', 0):>6}"
        )
    return lines


def write_csv_tables(fetch: Callable[[str], tuple[str, str]], directory: Path) -> list[Path]:
    """Every table of the report as a CSV file in ``directory`` (created if missing), under the file name
    the server suggests; the text is written as sent (CRLF line ends, as RFC 4180 has them)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {directory} ({exc.strerror or exc}) — pick another directory for --csv") from exc
    written = []
    for table in CSV_TABLES:
        filename, text = fetch(table)
        path = directory / Path(filename).name  # only a name: a server cannot write outside the directory
        path.write_text(text, encoding="utf-8", newline="")
        written.append(path)
    return written


def render_results(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return ["you have not played a quiz yet"]
    lines: list[str] = []
    for r in results:
        when = str(r.get("ended_at") or r.get("started_at") or "")[:16].replace("T", " ")
        lines += [
            "",
            f"{r.get('quiz_id')} · {r.get('title', '')} · {when} · #{r.get('rank')} of {r.get('player_count')} · {r.get('score', 0)} points",
        ]
        missed = r.get("missed_words", [])
        if not missed:
            lines.append("   no missed words — well done!")
        else:
            lines.append(f"   practise these words ({len(missed)}):")
        for w in missed:
            yours = "not answered" if w.get("your_answer") is None else f"you: {w['your_answer']}"
            lines.append(f"   - {w.get('prompt', '')} → {w.get('correct_answer', '')}   ({yours})")
    return lines
