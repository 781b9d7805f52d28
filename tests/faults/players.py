"""Players of the fault suite: public-API clients (HTTP and WebSocket) that keep trying through an outage
the way a real client would (503 → wait Retry-After, dropped socket → reconnect and `join`, answers
retried with the same idempotency key), and that count every response they see.

Only what a player was told counts as acknowledged: an HTTP 2xx to an answer, or its `answer_result`."""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from clients.quiz_client import ApiError, LiveSession, QuizClient

PASSWORD = "correct horse battery staple"
INTERNAL_ERROR = "Internal server error"  # API Gateway's frame for a function that failed outright


@dataclass
class Tally:
    """What every client of the run saw, shared by all threads."""

    http: Counter[int] = field(default_factory=Counter)  # status → responses
    ws_unavailable: int = 0  # `service_unavailable` error frames (the WebSocket's 503)
    ws_upgrade: Counter[int] = field(default_factory=Counter)  # rejected WebSocket upgrades by status
    unreachable: int = 0  # connection refused or reset: the node itself was down
    server_errors: list[str] = field(default_factory=list)  # every 5xx other than 503, with what was sent
    acknowledged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, status: int, what: str, body: str = "") -> None:
        with self.lock:
            self.http[status] += 1
            if status >= 500 and status != 503:
                self.server_errors.append(f"HTTP {status} on {what}: {body[:300]}")

    def count(self, name: str, detail: str = "") -> None:
        with self.lock:
            if name == "unreachable":
                self.unreachable += 1
            elif name == "ws_unavailable":
                self.ws_unavailable += 1
            elif name == "acknowledged":
                self.acknowledged += 1
            elif name == "server_error":
                self.server_errors.append(detail)

    @property
    def http_503(self) -> int:
        return self.http[503]


@dataclass(frozen=True)
class Ack:
    """An answer the player was told was recorded."""

    user_id: str
    question_id: int
    points: int
    total: int
    at: float  # monotonic


class Player:
    """One signed-up user: an HTTP client, and per quiz the WebSocket sessions it opened (reconnects included)."""

    def __init__(self, base_url: str, name: str, via: str, tally: Tally) -> None:
        self.name, self.via, self.tally = name, via, tally
        self.client = QuizClient(base_url, timeout=15.0)
        self.sessions: list[LiveSession] = []
        self.quiz_id: str | None = None
        self.token_at = 0.0

    # ---------------------------------------------------------------- HTTP

    def request(
        self, method: str, path: str, *, until: float, json: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response | None:
        """The call, repeated through 503s, 5xx and a node that is down until `until`; None if it never got a final answer."""
        while time.monotonic() < until:
            sent = dict(headers or {})
            if self.client.access_token:
                sent.setdefault("Authorization", f"Bearer {self.client.access_token}")
            try:
                response = self.client.http.request(method, path, json=json, headers=sent)
            except httpx.TransportError:
                self.tally.count("unreachable")
                time.sleep(0.2)
                continue
            self.tally.status(response.status_code, f"{method} {path}", response.text)
            if response.status_code == 503:
                time.sleep(min(float(response.headers.get("Retry-After", "1") or 1), 1.0))
                continue
            if response.status_code >= 500:
                time.sleep(0.5)
                continue
            return response
        return None

    def signup(self, until: float) -> None:
        body = {"username": f"f{uuid.uuid4().hex[:12]}", "password": PASSWORD, "display_name": self.name}
        response = self.request("POST", "/auth/signup", json=body, until=until)
        if response is None or response.status_code != 201:
            raise RuntimeError(f"sign-up of {self.name} failed: {response and response.text}")
        self._tokens(response.json())
        self.client.user = response.json().get("user", {})

    def _tokens(self, body: dict[str, Any]) -> None:
        tokens = body.get("tokens", body)
        self.client.access_token, self.client.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.token_at = time.monotonic()

    def refresh_if_old(self, until: float, max_age_s: float = 1800.0) -> None:
        if time.monotonic() - self.token_at < max_age_s:
            return
        response = self.request("POST", "/auth/refresh", json={"refresh_token": self.client.refresh_token}, until=until)
        if response is not None and response.status_code == 200:
            self._tokens(response.json())

    @property
    def user_id(self) -> str:
        return self.client.user_id

    # ---------------------------------------------------------------- WebSocket

    def live(self, until: float) -> LiveSession | None:
        """This quiz's open session, or a new one joined to it (None if none could be opened by `until`)."""
        assert self.quiz_id
        current = self.sessions[-1] if self.sessions else None
        if current is not None and current.closed is None and current._reader.is_alive():
            return current
        while time.monotonic() < until:
            try:
                session = self.client.live()
            except Exception as exc:  # refused (node down) or a rejected upgrade
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if isinstance(status, int):
                    with self.tally.lock:
                        self.tally.ws_upgrade[status] += 1
                    if status >= 500 and status != 503:
                        self.tally.count("server_error", f"WebSocket upgrade rejected with {status}")
                else:
                    self.tally.count("unreachable")
                time.sleep(0.3)
                continue
            self.sessions.append(session)
            try:
                session.request({"action": "join", "quiz_id": self.quiz_id}, expect="joined", timeout=10)
                return session
            except ApiError as exc:
                self._ws_error(exc, "join")
            except Exception:
                pass
            with_closed(session)
            time.sleep(0.3)
        return None

    def _ws_error(self, exc: ApiError, action: str) -> None:
        frame = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        if exc.code == "service_unavailable":
            self.tally.count("ws_unavailable")
            time.sleep(min(frame.get("details", {}).get("retry_after_ms", 1000) / 1000, 1.0))
        elif exc.code == "internal_error":
            self.tally.count("server_error", f"WebSocket {action}: {frame}")

    def ping(self) -> None:
        """A keep-alive naming the quiz: restores a lost registration (the server answers `rejoin`, the session
        re-joins); a socket that dropped is reconnected and joined first, as the CLI and the web page do."""
        if not self.quiz_id:
            return
        session = self.live(time.monotonic() + 5)
        if session is not None:
            with contextlib.suppress(Exception):
                session.send({"action": "ping", "quiz_id": self.quiz_id})

    def close_sessions(self) -> None:
        for session in self.sessions:
            with_closed(session)
        # A function that failed outright answers with API Gateway's bare frame: a 5xx on the WebSocket.
        for session in self.sessions:
            for _, frame in session.frames:
                if frame.get("message") == INTERNAL_ERROR:
                    self.tally.count("server_error", f"WebSocket frame {frame}")
        self.sessions = []

    # ---------------------------------------------------------------- the quiz

    def join(self, quiz_id: str, until: float) -> bool:
        self.quiz_id = quiz_id
        return self.live(until) is not None

    def answer(self, question_id: int, choices: int, until: float) -> Ack | None:
        """Answer once (a random choice), retried with the same key through faults; the Ack if one came."""
        assert self.quiz_id
        choice = random.randrange(choices)
        key = str(uuid.uuid4())
        if self.via == "http":
            self.live(until)  # the player follows the quiz on a socket, reconnected when it dropped
            response = self.request(
                "POST",
                f"/quizzes/{self.quiz_id}/answers",
                json={"question_id": question_id, "answer": choice},
                headers={"Idempotency-Key": key},
                until=until,
            )
            if response is None or response.status_code not in (200, 201):
                return None
            body = response.json()
            return self._acked(question_id, body)
        while time.monotonic() < until:
            session = self.live(until)
            if session is None:
                return None
            frame = {"action": "answer", "quiz_id": self.quiz_id, "question_id": question_id, "answer": choice, "request_id": key}
            try:
                reply = session.request(frame, expect="answer_result", timeout=max(0.5, min(10.0, until - time.monotonic())))
                return self._acked(question_id, reply)
            except ApiError as exc:
                self._ws_error(exc, "answer")
                if exc.code != "service_unavailable" and exc.code != "internal_error":
                    return None  # question_closed and the like: refused, nothing recorded
            except Exception:
                with_closed(session)  # no reply (the node went away): reconnect, re-join, retry the same key
                time.sleep(0.2)
        return None

    def _acked(self, question_id: int, body: dict[str, Any]) -> Ack:
        self.tally.count("acknowledged")
        return Ack(self.user_id, question_id, int(body["points"]), int(body["score"]), time.monotonic())

    def board_score(self, until: float) -> int | None:
        """The caller's own score in GET /quizzes/{id}/leaderboard (None if not on the board)."""
        response = self.request("GET", f"/quizzes/{self.quiz_id}/leaderboard", until=until)
        if response is None or response.status_code != 200:
            return None
        me = response.json().get("me")
        return int(me["score"]) if me else None

    def last_seen_score(self) -> int | None:
        """The player's own score in the last leaderboard / your_rank / joined frame they received."""
        seen: list[tuple[float, int]] = []
        for session in self.sessions:
            for at, frame in list(session.frames):
                if frame.get("quiz_id") != self.quiz_id:
                    continue
                kind = frame.get("type")
                if kind == "your_rank":
                    seen.append((at, int(frame["score"])))
                elif kind == "leaderboard":
                    mine = [e for e in frame.get("top", []) if e.get("user_id") == self.user_id]
                    if mine:
                        seen.append((at, int(mine[0]["score"])))
                elif kind == "joined" and frame.get("me"):
                    seen.append((at, int(frame["me"]["score"])))
        return max(seen)[1] if seen else None


def with_closed(session: LiveSession) -> None:
    with contextlib.suppress(Exception):
        session.close()
