"""A small client of the quiz's public API (HTTP + WebSocket), used by the CLI, the load generator and
the end-to-end tests. It knows only what docs/ and /openapi.json document.

    client = QuizClient("http://127.0.0.1:8000")
    me = client.signup("ana", "a long passphrase", "Ana")
    live = client.live()                      # WebSocket with the access token
    snapshot = live.request({"action": "join", "quiz_id": "ABC234"}, expect="joined")
    frame = live.wait_for("question_opened")
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

Frame = dict[str, Any]


# When a socket dies under a player (their node crashed, nginx restarted), the first retry comes almost at
# once: nginx already sends a new connection to a surviving node, and the seat and score are kept, so the
# player is back well within 5 s. Later retries back off to a few seconds and keep going for about two
# minutes, longer than a dead node takes to be started again, before the clients give up and say how to rejoin.
RECONNECT_SCHEDULE_S = (0.25, 0.5, 1.0, 2.0, *(4.0,) * 30)
# Each delay is spread over ±50 %, so the players of a dead node do not all knock on the survivor at once.
RECONNECT_JITTER = 0.5


def reconnect_delays(schedule: tuple[float, ...] = RECONNECT_SCHEDULE_S, rand: Callable[[], float] = random.random) -> Iterator[float]:
    """The pause before each reconnection attempt, jittered; the attempts end with the schedule."""
    for base in schedule:
        yield base * (1 - RECONNECT_JITTER + 2 * RECONNECT_JITTER * rand())


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"{status} {error.get('code', '')}: {error.get('message', body)}")
        self.status, self.body, self.code = status, body, error.get("code")


class QuizClient:
    """One user of the quiz: their tokens, HTTP calls, and WebSocket sessions."""

    def __init__(self, base_url: str, *, ws_url: str | None = None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws_url = ws_url or self.base_url.replace("http", "ws", 1) + "/ws"
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.user: dict[str, Any] = {}

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ HTTP

    def call(self, method: str, path: str, *, expect: int | tuple[int, ...] = (200, 201, 204), **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}) or {})
        if self.access_token:
            headers.setdefault("Authorization", f"Bearer {self.access_token}")
        response = self.http.request(method, path, headers=headers, **kw)
        body = response.json() if response.content and response.headers.get("content-type", "").startswith("application/json") else None
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise ApiError(response.status_code, body if body is not None else response.text)
        return body

    def _tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        tokens = body.get("tokens", body)
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        return body

    def signup(self, username: str, password: str, display_name: str) -> dict[str, Any]:
        body = self._tokens(
            self.call("POST", "/auth/signup", json={"username": username, "password": password, "display_name": display_name})
        )
        self.user = body.get("user", {})
        return body

    def login(self, username: str, password: str) -> dict[str, Any]:
        body = self._tokens(self.call("POST", "/auth/login", json={"username": username, "password": password}))
        self.user = self.call("GET", "/users/me")
        return body

    @property
    def user_id(self) -> str:
        return str(self.user.get("id") or self.user.get("user_id"))

    def create_quiz(self, quiz: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/quizzes", json=quiz, expect=201))

    def host(self, quiz_id: str, action: str, *, from_question_id: int | None = None) -> dict[str, Any]:
        """start | next | end | lock | unlock (`next` with the question it moves on from is retry-safe)"""
        body = {"from_question_id": from_question_id} if from_question_id is not None else None
        return dict(self.call("POST", f"/quizzes/{quiz_id}/{action}", json=body))

    def join(self, quiz_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/quizzes/{quiz_id}/join"))

    def answer(self, quiz_id: str, question_id: int, answer: Any, idempotency_key: str | None = None) -> dict[str, Any]:
        key = idempotency_key or str(uuid.uuid4())
        return dict(
            self.call(
                "POST", f"/quizzes/{quiz_id}/answers", json={"question_id": question_id, "answer": answer}, headers={"Idempotency-Key": key}
            )
        )

    def leaderboard(self, quiz_id: str, limit: int = 10) -> dict[str, Any]:
        return dict(self.call("GET", f"/quizzes/{quiz_id}/leaderboard", params={"limit": limit}))

    # ------------------------------------------------------------------ after the quiz

    def report(self, quiz_id: str) -> dict[str, Any]:
        """The host's report of a quiz: per question and per player."""
        return dict(self.call("GET", f"/quizzes/{quiz_id}/report"))

    def report_csv(self, quiz_id: str, table: str = "players") -> tuple[str, str]:
        """One table of the report as CSV: (the file name the server suggests, the CSV text)."""
        headers = {"Accept": "text/csv"}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        response = self.http.get(f"/quizzes/{quiz_id}/report", params={"table": table}, headers=headers)
        if response.status_code != 200:
            is_json = response.headers.get("content-type", "").startswith("application/json")
            raise ApiError(response.status_code, response.json() if is_json and response.content else response.text)
        disposition = response.headers.get("content-disposition", "")
        filename = disposition.partition('filename="')[2].rstrip('"') or f"quiz-{quiz_id}-{table}.csv"
        return filename, response.text

    def results(self) -> list[dict[str, Any]]:
        """The quizzes the caller played, most recent first, each with the words they missed."""
        return list(self.call("GET", "/users/me/results")["results"])

    def play_again(self, quiz_id: str) -> dict[str, Any]:
        """A new session of an ended quiz (host only): the new quiz, not started yet."""
        return dict(self.call("POST", f"/quizzes/{quiz_id}/again", expect=201))

    # ------------------------------------------------------------------ WebSocket

    def live(self, *, token_in: str = "query") -> LiveSession:
        """Open a WebSocket with the access token (in the query string, as a browser would)."""
        assert self.access_token, "sign up or log in first"
        if token_in == "query":
            opening = connect(f"{self.ws_url}?token={self.access_token}", open_timeout=10, max_size=2**20)
        else:
            opening = connect(self.ws_url, additional_headers={"Authorization": f"Bearer {self.access_token}"}, open_timeout=10)
        return LiveSession(opening.__enter__())  # LiveSession.close() is the matching __exit__


class LiveSession:
    """A WebSocket whose frames are read by a background thread; tests and tools wait on them.

    When the server answers a ping with `rejoin` (it had lost this connection), the session sends its
    last `join` again by itself; the `rejoin` and the new `joined` are still there to wait for.
    """

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[tuple[float, Frame]] = []  # (monotonic arrival time, frame), everything received
        self._inbox: queue.Queue[tuple[float, Frame] | None] = queue.Queue()
        self._backlog: list[tuple[float, Frame]] = []
        self.closed: ConnectionClosed | None = None
        self.joined_quiz: str | None = None  # the quiz of the last `join` sent
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                item = (time.monotonic(), json.loads(message))
                self.frames.append(item)
                self._inbox.put(item)
                if item[1].get("type") == "rejoin" and self.joined_quiz is not None:
                    self.send({"action": "join", "quiz_id": self.joined_quiz})
        except ConnectionClosed as exc:
            self.closed = exc
        finally:
            self._inbox.put(None)

    def send(self, frame: Frame) -> None:
        if frame.get("action") == "join" and isinstance(frame.get("quiz_id"), str):
            self.joined_quiz = frame["quiz_id"]
        with self._send_lock:
            self.ws.send(json.dumps(frame))

    def wait_for(self, kind: str, where: Callable[[Frame], bool] = lambda f: True, timeout: float = 15.0) -> Frame:
        return self.wait_for_timed(kind, where, timeout)[1]

    def wait_for_timed(self, kind: str, where: Callable[[Frame], bool] = lambda f: True, timeout: float = 15.0) -> tuple[float, Frame]:
        """The first not-yet-consumed frame of this type that matches, with its arrival time."""
        for i, (at, frame) in enumerate(self._backlog):
            if frame.get("type") == kind and where(frame):
                del self._backlog[i]
                return at, frame
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [f.get("type") for _, f in self.frames[-10:]]
                raise TimeoutError(f"no {kind!r} frame within {timeout}s (last frames: {seen})")
            try:
                item = self._inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            if item is None:
                raise ConnectionError(f"the WebSocket closed while waiting for {kind!r}: {self.closed}")
            if item[1].get("type") == kind and where(item[1]):
                return item
            self._backlog.append(item)

    def request(self, frame: Frame, *, expect: str, timeout: float = 15.0) -> Frame:
        """Send an action and wait for its reply (or raise ApiError on an error frame)."""
        request_id = frame.setdefault("request_id", str(uuid.uuid4())) if frame.get("action") == "answer" else None
        self.send(frame)
        deadline = time.monotonic() + timeout
        while True:
            for kind in (expect, "error"):
                for i, (_, f) in enumerate(self._backlog):
                    if f.get("type") == kind and (request_id is None or f.get("request_id") == request_id):
                        del self._backlog[i]
                        if kind == "error":
                            raise ApiError(400, {"error": f.get("error", {})})  # the very object an HTTP body carries
                        return f
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply to {frame.get('action')!r}")
            try:
                item = self._inbox.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if item is None:
                raise ConnectionError(f"the WebSocket closed: {self.closed}")
            self._backlog.append(item)

    def close(self) -> None:
        self.ws.close()
        self._reader.join(timeout=5)
