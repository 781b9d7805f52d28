"""The CLI's live session joins again by itself: on the server's `rejoin` and after its socket closes.

Fake sockets stand in for the WebSocket (the e2e tests drive the real one); each records what the CLI
sent and yields what the test pushes."""

from __future__ import annotations

import io
import json
import queue
import threading
from collections.abc import Iterator
from typing import Any, TextIO, cast

import pytest

from clients import cli
from clients.terminal import session

WAIT_S = 10.0  # how long a step may take before the test reports it never happened (not a timing check)
QUIZ_ID = "K7Q2MX"


class FakeSocket:
    def __init__(self) -> None:
        self.sent: queue.Queue[dict[str, Any]] = queue.Queue()
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.closed = False

    def push(self, frame: dict[str, Any]) -> None:
        self._inbox.put(frame)

    def drop(self) -> None:
        """The server closes the connection."""
        self._inbox.put(None)

    def next_sent(self) -> dict[str, Any]:
        return self.sent.get(timeout=WAIT_S)

    def send(self, text: str) -> None:
        self.sent.put(json.loads(text))

    def close(self) -> None:
        self.closed = True
        self._inbox.put(None)

    def __iter__(self) -> Iterator[str]:
        while (frame := self._inbox.get()) is not None:
            yield json.dumps(frame)


class FakeAccount:
    user_id = "u-ana"

    def __init__(self, *sockets: FakeSocket) -> None:
        self.sockets = list(sockets)
        self.opened = 0

    def open_socket(self) -> FakeSocket:
        self.opened += 1
        if not self.sockets:
            raise cli.CliError("the server refused the WebSocket (503)")
        return self.sockets.pop(0)


JOINED = {"type": "joined", "quiz_id": QUIZ_ID, "role": "player", "quiz": {"title": "Phrasal verbs", "question_count": 3, "status": "open"},
          "open_question": None, "leaderboard": {"player_count": 1, "top": []}, "me": {"rank": None, "score": 0}}  # fmt: skip


class SilentKeyboard:
    """Types nothing; end of input once the test is over."""

    def __init__(self) -> None:
        self.over = threading.Event()

    def readline(self) -> str:
        self.over.wait()
        return ""


def play(account: FakeAccount) -> tuple[threading.Thread, dict[str, Any], io.StringIO]:
    """Runs `play` in a thread with a keyboard that types nothing until the test ends."""
    keyboard = SilentKeyboard()
    out = io.StringIO()
    result: dict[str, Any] = {"keyboard": keyboard}

    def run() -> None:
        result["code"] = cli.run_live(
            cast(cli.Account, account),
            lambda send: cli.PlayScreen(quiz_id=QUIZ_ID, me=account.user_id, send=send),
            cast(TextIO, keyboard),
            out,
            sleep=lambda s: None,
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result, out


def finish(thread: threading.Thread, result: dict[str, Any]) -> int:
    thread.join(WAIT_S)
    result["keyboard"].over.set()
    assert not thread.is_alive(), "the session did not end"
    return int(result["code"])


def test_a_rejoin_frame_makes_the_cli_join_again() -> None:
    sock = FakeSocket()
    thread, result, out = play(FakeAccount(sock))
    assert sock.next_sent() == {"action": "join", "quiz_id": QUIZ_ID}
    sock.push(JOINED)
    sock.push({"type": "rejoin", "quiz_id": QUIZ_ID, "connectionId": "c1"})
    assert sock.next_sent() == {"action": "join", "quiz_id": QUIZ_ID}
    sock.push({"type": "quiz_ended", "quiz_id": QUIZ_ID, "standings": []})
    assert finish(thread, result) == 0
    assert "rejoining quiz K7Q2MX" in out.getvalue()


def test_the_cli_reconnects_and_joins_again_when_its_socket_closes() -> None:
    first, second = FakeSocket(), FakeSocket()
    account = FakeAccount(first, second)
    thread, result, _ = play(account)
    assert first.next_sent() == {"action": "join", "quiz_id": QUIZ_ID}
    first.push(JOINED)
    first.drop()
    assert second.next_sent() == {"action": "join", "quiz_id": QUIZ_ID}
    second.push(JOINED)
    second.push({"type": "quiz_ended", "quiz_id": QUIZ_ID, "standings": []})
    assert finish(thread, result) == 0
    assert account.opened == 2
    assert second.closed


def test_the_cli_gives_up_and_says_how_to_rejoin_when_the_server_stays_away() -> None:
    only = FakeSocket()
    account = FakeAccount(only)
    thread, result, out = play(account)
    assert only.next_sent() == {"action": "join", "quiz_id": QUIZ_ID}
    only.drop()
    assert finish(thread, result) == 1
    assert account.opened == 1 + len(cli.RECONNECT_DELAYS_S)
    assert f"run `python -m clients.cli play {QUIZ_ID}` to rejoin" in out.getvalue()


def test_the_cli_pings_with_its_quiz_so_the_server_can_notice_a_lost_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "PING_EVERY_S", -1)  # ping on every turn of the loop
    sock = FakeSocket()
    thread, result, _ = play(FakeAccount(sock))
    assert sock.next_sent() == {"action": "join", "quiz_id": QUIZ_ID}
    assert sock.next_sent() == {"action": "ping", "quiz_id": QUIZ_ID}
    sock.push({"type": "quiz_ended", "quiz_id": QUIZ_ID, "standings": []})
    assert finish(thread, result) == 0
