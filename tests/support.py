"""What several end-to-end test modules share: the quiz they play, how they read a leaderboard frame and a
Prometheus scrape, and a headless browser. Test modules import from here, never from one another (a test
module imported by another also runs its tests under the importer's name)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

from clients.quiz_client import Frame, LiveSession, QuizClient
from local.product import free_port
from tests.asyncapi_check import FrameContract
from tests.waiting import eventually

# ---------------------------------------------------------------------------------------------- the quiz

QUIZ: dict[str, Any] = {
    "title": "Phrasal verbs",
    "questions": [
        {"kind": "multiple_choice", "prompt": "'Give up' means?", "choices": ["surrender", "donate", "lift"], "correct_choice": 0,
         "time_limit_ms": 30000, "points": 1000},
        {"kind": "typed", "prompt": "Put off = ? (one word)", "accepted_answers": ["postpone", "delay"], "typo_tolerance": 1,
         "time_limit_ms": 30000, "points": 1000},
        {"kind": "multiple_choice", "prompt": "'Run out of' means?", "choices": ["have none left", "escape"], "correct_choice": 0,
         "time_limit_ms": 5000, "points": 1000},
    ],
}  # fmt: skip


def board_scores(frame: dict[str, Any]) -> dict[str, int]:
    return {row["user_id"]: row["score"] for row in frame["top"]}


# ---------------------------------------------------------------------------------------------- Prometheus

DASHBOARD = Path(__file__).resolve().parents[1] / "local" / "observability" / "grafana" / "dashboards" / "quiz.json"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextlib.contextmanager
def sign_ups(base_url: str) -> Iterator[Callable[[str], QuizClient]]:
    """A function that signs up a new user (a random username) under a display name and returns their
    client; every client it made is closed when the block ends."""
    clients: list[QuizClient] = []

    def signed_up(display_name: str) -> QuizClient:
        c = QuizClient(base_url)
        clients.append(c)
        c.signup(f"p{uuid.uuid4().hex[:12]}", "correct horse battery staple", display_name)
        return c

    try:
        yield signed_up
    finally:
        for c in clients:
            c.close()


def one_live_answer(host: QuizClient, player: QuizClient) -> tuple[str, LiveSession]:
    """A quiz of QUIZ's with one player on the WebSocket who answers question 1 and sees it on the board:
    every path of the product ran once (HTTP, WebSocket, Kafka, the leaderboard push)."""
    quiz_id = str(host.create_quiz(QUIZ)["quiz_id"])
    live = player.live()
    live.request({"action": "join", "quiz_id": quiz_id}, expect="joined")
    host.host(quiz_id, "start")
    live.wait_for("question_opened")
    result = live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 0}, expect="answer_result")
    live.wait_for("leaderboard", lambda f: board_scores(f).get(player.user_id) == result["score"])
    return quiz_id, live


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def exported_names(text: str) -> set[str]:
    """Every series name a query could use: the samples, plus the series a described family will have."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


PROMQL_WORDS = {
    # functions, aggregations and keywords that may appear in the dashboard's queries
    *("sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile", "topk", "bottomk"),
    *("by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool"),
    *("clamp_min", "clamp_max", "abs", "delta", "deriv", "time", "vector", "scalar", "label_replace"),
}


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (identifiers that are not functions, labels or keywords)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range durations
    identifiers = set(re.findall(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {i for i in identifiers if i not in PROMQL_WORDS}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


# ---------------------------------------------------------------------------------------------- a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


PASSWORD = "correct horse battery staple"


class Browser:
    """One headless Chromium with its own profile (so its own localStorage, i.e. its own signed-in user)."""

    def __init__(self, profile_dir: Path) -> None:
        assert CHROMIUM
        port = free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             f"--remote-debugging-port={port}", f"--user-data-dir={profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def pages() -> list[dict[str, Any]]:
            if self.proc.poll() is not None:
                raise AssertionError(f"headless Chromium exited with {self.proc.returncode}")
            return [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json() if t["type"] == "page"]

        try:
            found = eventually(pages, 30, "headless Chromium's first page", interval=0.2, ignoring=(httpx.TransportError,))
        except AssertionError:
            self.close()
            pytest.fail("headless Chromium did not start")
        self.ws: ClientConnection = connect(found[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10).__enter__()
        self._id = 0

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self._id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def js(self, expression: str) -> Any:
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 20.0) -> Any:
        return eventually(
            lambda: self.js(expression),
            timeout,
            expression,
            interval=0.1,
            details=lambda: "the page shows:\n" + str(self.js("document.getElementById('app').innerText")),
        )

    def open(self, url: str) -> None:
        self.command("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && typeof render === 'function'")

    def fill(self, form_id: str, **values: str) -> None:
        for name, value in values.items():
            self.js(f"document.getElementById({form_id!r}).elements[{name!r}].value = {json.dumps(value)}")
        self.js(f"document.getElementById({form_id!r}).requestSubmit()")

    def text(self, element_id: str) -> str:
        return str(self.js(f"document.getElementById({element_id!r}).innerText"))

    def screenshot(self, path: Path, *, width: int = 1100) -> Path:
        """The whole page (not only the viewport) as a PNG at ``path``."""
        height = int(self.js("Math.ceil(document.documentElement.scrollHeight)"))
        self.command("Emulation.setDeviceMetricsOverride", width=width, height=max(height, 600), deviceScaleFactor=1, mobile=False)
        try:
            shot = self.command("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        finally:
            self.command("Emulation.clearDeviceMetricsOverride")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        if hasattr(self, "ws"):
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def signed_up(browser: Browser, base_url: str, display_name: str) -> None:
    browser.open(f"{base_url}/play")
    browser.wait("!document.getElementById('auth-view').hidden")
    browser.js("document.querySelector('[data-tab=signup-form]').click()")
    browser.fill("signup-form", username=f"web{uuid.uuid4().hex[:10]}", display_name=display_name, password=PASSWORD)
    browser.wait("!document.getElementById('home-view').hidden")
    assert display_name in browser.text("whoami")


def hosting_example_quiz(host: Browser) -> str:
    """The host pastes the example quiz, creates it and opens the host controls; returns its PIN."""
    host.js("document.querySelector('[data-tab=json-form]').click(); document.getElementById('load-example').click()")
    host.js("document.getElementById('json-form').requestSubmit()")
    pin: str = host.wait("(document.querySelector('#created .pin') || {}).textContent")
    host.js("document.querySelector('#created button').click()")
    host.wait("document.getElementById('game-status').innerText.startsWith('hosting · 3 questions · open')")
    return pin


# ---------------------------------------------------------------------------------------------- frames and the AsyncAPI document

# Frames a benchmark posts itself through the management API to time fan-out (bench/latency/evidence.py):
# the product never sends them, so docs/asyncapi.yaml rightly does not describe them.
FOREIGN_FRAME_TYPES = frozenset({"bench_probe"})


class FrameRecorder:
    """Records every frame `LiveSession`s send and receive while installed, to check them against
    docs/asyncapi.yaml. Installed per test by tests/e2e/conftest.py, and by a module-scoped setup whose
    sessions outlive any one test: that one stops taking new sessions once its own are open, and keeps
    only what its own sessions send, so each test's frames are judged by that test (and its markers)."""

    def __init__(self, *, own_sessions_only: bool = False) -> None:
        self.sessions: list[LiveSession] = []
        self.sent: list[Frame] = []
        self.own_sessions_only = own_sessions_only
        self.taking_sessions = True

    def stop_taking_sessions(self) -> None:
        self.taking_sessions = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        opened, send = LiveSession.__init__, LiveSession.send
        recorder = self

        def recording_init(self: LiveSession, *args: object, **kwargs: object) -> None:
            if recorder.taking_sessions:
                recorder.sessions.append(self)
            opened(self, *args, **kwargs)  # type: ignore[arg-type]

        def recording_send(self: LiveSession, frame: Frame) -> None:
            if not recorder.own_sessions_only or any(s is self for s in recorder.sessions):
                recorder.sent.append(dict(frame))
            send(self, frame)

        monkeypatch.setattr(LiveSession, "__init__", recording_init)
        monkeypatch.setattr(LiveSession, "send", recording_send)

    def errors(self, *, check_sent: bool = True) -> list[str]:
        contract = FrameContract.load()
        errors = [e for f in self.sent for e in contract.sent_errors(f)] if check_sent else []
        for session in self.sessions:
            for _, frame in list(session.frames):
                if frame.get("type") not in FOREIGN_FRAME_TYPES:
                    errors += contract.received_errors(frame)
        return errors

    def assert_documented(self, *, check_sent: bool = True) -> None:
        errors = self.errors(check_sent=check_sent)
        assert not errors, "frames that docs/asyncapi.yaml does not describe:\n" + "\n".join(errors[:20])
