"""The terminal client and the web page, through the product emulator: a person signs up, creates a quiz,
hosts it from one terminal and plays it from another, reading what the CLI prints and typing answers."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clients.quiz_client import QuizClient
from tests.e2e.conftest import REPO, Product

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
EXAMPLE = REPO / "clients" / "examples" / "phrasal_verbs.json"


class Terminal:
    """`python -m clients.cli ...` with a scripted keyboard; `expect` waits for a line the user would see."""

    def __init__(self, product: Product, profile: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "QUIZ_URL": product.base_url, "HOME": str(profile.parent)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "--profile", str(profile), *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def seen_or_expect(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """A line matching the pattern that is already on screen, or else the next one that comes."""
        for line in self.lines:
            match = re.search(pattern, line)
            if match:
                return match
        return self.expect(pattern, timeout)

    def expect(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The next line (not yet consumed) that matches the regular expression."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout}s; the screen so far:\n" + "\n".join(self.lines)
                ) from None
            if line is None:
                raise AssertionError(f"the CLI exited ({self.proc.wait()}) before printing {pattern!r}:\n" + "\n".join(self.lines))
            match = re.search(pattern, line)
            if match:
                return match

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def exit_code(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def terminals(product: Product, tmp_path: Path) -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for t in opened:
        t.close()


def run(product: Product, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUIZ_URL": product.base_url, "HOME": str(profile.parent)}
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", "--profile", str(profile), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def signup(product: Product, profile: Path, display_name: str) -> str:
    username = f"cli{uuid.uuid4().hex[:10]}"
    done = run(product, profile, "signup", "--username", username, "--display-name", display_name, "--password", PASSWORD)
    assert done.returncode == 0, done.stderr
    assert f"signed up as {display_name} (@{username})" in done.stdout
    return username


def test_host_and_player_run_a_quiz_from_two_terminals(product: Product, tmp_path: Path, terminals: list[Terminal]) -> None:
    host_profile, player_profile = tmp_path / "host.json", tmp_path / "player.json"
    signup(product, host_profile, "Hazel")
    signup(product, player_profile, "Ana")

    created = run(product, host_profile, "create", str(EXAMPLE))
    assert created.returncode == 0, created.stderr
    pin = re.search(r"PIN ([A-Z0-9]{6})", created.stdout)
    assert pin, created.stdout
    quiz_id = pin.group(1)
    assert f"play it:  python -m clients.cli play {quiz_id}" in created.stdout

    host = Terminal(product, host_profile, "host", quiz_id)
    terminals.append(host)
    host.expect(rf"hosting 'Phrasal verbs warm-up' · PIN {quiz_id} · 4 questions · status open")

    player = Terminal(product, player_profile, "play", quiz_id.lower())
    terminals.append(player)
    player.expect(rf"joined 'Phrasal verbs warm-up' \({quiz_id}\) · 4 questions")
    player.expect("waiting for the host to start")
    host.expect(r"\+ Ana joined \(1 players\)")

    host.type("start")
    player.expect(r"Question 1/4 · 1000 points · 2\d s")
    player.expect(r"'Give up' means")
    player.expect(r"1\) surrender")
    player.expect(r"answer with a number 1-3")
    player.type("7")
    player.expect("answer with a number from 1 to 3")
    player.type("1")
    result = player.expect(r"✓ correct! \+(\d+) points \(score (\d+)\)")
    assert 900 < int(result.group(1)) <= 1000
    # The rank frame and the answer's reply come from different sources: either may be on screen first.
    player.seen_or_expect(rf"you are #1 of 1 with {result.group(2)} points — in the lead!")
    host.expect(r"> ?\s*1\. Ana|  1\. Ana")
    player.type("2")
    player.expect("you already answered question 1")

    host.type("next")
    player.expect(r"question 1 closed · answer: surrender")
    player.expect(rf"you were right: \+{result.group(1)} \(score {result.group(2)}\)")
    player.expect(r"Question 2/4")
    player.expect("type your answer")
    host.expect(r"1 answer received")
    player.type("postpne")  # one typo is tolerated
    player.expect(r"✓ correct!")

    host.type("next")
    player.expect(r"question 2 closed · answer: postpone / delay")
    player.expect(r"Question 3/4")
    host.type("end")
    player.expect("final standings")
    player.expect(r"1\. Ana\s+\d+  ← you")
    player.expect("thanks for playing!")
    host.expect("final standings")
    assert player.exit_code() == 0
    assert host.exit_code() == 0


def test_mistakes_get_one_line_saying_what_to_do(product: Product, tmp_path: Path, terminals: list[Terminal]) -> None:
    profile = tmp_path / "me.json"
    assert "not logged in — run `python -m clients.cli login`" in run(product, profile, "create", str(EXAMPLE)).stderr
    username = signup(product, profile, "Bo")

    player = Terminal(product, profile, "play", "ZZZZZZ")
    terminals.append(player)
    player.expect("error: quiz ZZZZZZ not found — check the PIN")
    assert player.exit_code() == 1

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "x", "questions": [{"kind": "multiple_choice", "prompt": "?", "choices": ["a"]}]}))
    refused = run(product, profile, "create", str(bad))
    assert refused.returncode == 1
    assert f"{bad} is not a valid quiz (field questions[0].choices)" in refused.stderr

    wrong = run(product, tmp_path / "other.json", "login", "--username", username, "--password", "not the password at all")
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: wrong username or password — try again")

    unreachable = subprocess.run(
        [sys.executable, "-m", "clients.cli", "--profile", str(profile), "--url", "http://127.0.0.1:9", "create", str(EXAMPLE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "cannot reach the quiz server at http://127.0.0.1:9 — start it with `make run`" in unreachable.stderr


def test_login_saves_tokens_and_an_expired_access_token_is_refreshed(product: Product, tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    username = signup(product, first, "Cy")
    profile = tmp_path / "session.json"
    logged_in = run(product, profile, "login", "--username", username, "--password", PASSWORD)
    assert logged_in.returncode == 0 and "logged in as Cy" in logged_in.stdout
    assert profile.stat().st_mode & 0o777 == 0o600

    saved = json.loads(profile.read_text())
    saved["access_expires_at"] = 0  # as if the access token had run out
    profile.write_text(json.dumps(saved))
    created = run(product, profile, "create", str(EXAMPLE))
    assert created.returncode == 0, created.stderr
    after = json.loads(profile.read_text())
    assert after["refresh_token"] != saved["refresh_token"], "the rotated refresh token is saved"
    assert after["access_expires_at"] > time.time() + 60


def client_of(product: Product, profile: Path) -> QuizClient:
    """The same user over HTTP, with the tokens the CLI saved (to play the quiz the commands then report on)."""
    client = QuizClient(product.base_url)
    client.access_token = json.loads(profile.read_text())["access_token"]
    return client


def test_after_the_quiz_the_report_the_csv_files_the_missed_words_and_play_again(product: Product, tmp_path: Path) -> None:
    host_profile, player_profile = tmp_path / "host.json", tmp_path / "player.json"
    signup(product, host_profile, "Hazel")
    signup(product, player_profile, "Ana")
    found = re.search(r"PIN ([A-Z0-9]{6})", run(product, host_profile, "create", str(EXAMPLE)).stdout)
    assert found
    pin = found.group(1)
    host, ana = client_of(product, host_profile), client_of(product, player_profile)
    try:
        ana.join(pin)
        host.host(pin, "start")
        ana.answer(pin, 1, 1)  # donate: wrong
        host.host(pin, "next", from_question_id=1)
        ana.answer(pin, 2, "postpone")
        host.host(pin, "end")
    finally:
        host.close()
        ana.close()

    report = run(product, host_profile, "report", pin.lower(), "--csv", str(tmp_path / "csv"))
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0] == f"══ report · Phrasal verbs warm-up · {pin} · ended · 1 player ══"
    assert any(re.fullmatch(r"   accuracy 0 % · median time \d+\.\d s · 1 answer · answer: surrender", line) for line in lines)
    assert any(re.fullmatch(r"     donate {18} █{24} 1", line) for line in lines), report.stdout
    assert any(re.fullmatch(r"   ✓ surrender +0", line) for line in lines), report.stdout
    assert "Q3. 'Run out of' milk means you…" in lines and "   not asked" in lines
    assert re.search(r"^   1\. Ana\s+\d+\s+1/2\s+\d+\.\d s\s+1$", report.stdout, re.M), report.stdout
    for table, header in (("players", "rank,user_id"), ("questions", "question_id,kind"), ("answers", "question_id,user_id")):
        path = tmp_path / "csv" / f"quiz-{pin}-{table}.csv"
        assert f"wrote {path}" in report.stdout
        assert path.read_text(encoding="utf-8").startswith(header)
    assert "2,typed,One word for 'put off' (a meeting):,postpone,1,1,1.0," in (tmp_path / "csv" / f"quiz-{pin}-questions.csv").read_text()

    refused = run(product, player_profile, "report", pin)
    assert (refused.returncode, refused.stderr) == (
        1,
        f"error: only the account that created quiz {pin} can host it — log in as that account\n",
    )

    results = run(product, player_profile, "results")
    assert results.returncode == 0, results.stderr
    assert re.search(rf"^{pin} · Phrasal verbs warm-up · .+ · #1 of 1 · \d+ points$", results.stdout, re.M), results.stdout
    assert "   practise these words (1):\n   - 'Give up' means… → surrender   (you: donate)\n" in results.stdout

    again = run(product, host_profile, "again", pin)
    assert again.returncode == 0, again.stderr
    found = re.search(r"new session of 'Phrasal verbs warm-up' — PIN ([A-Z0-9]{6})", again.stdout)
    assert found and found.group(1) != pin, again.stdout
    not_ended = run(product, host_profile, "again", found.group(1))
    assert not_ended.returncode == 1 and f"quiz {found.group(1)} has not ended yet — end it first" in not_ended.stderr


def test_the_emulator_serves_the_web_page(product: Product) -> None:
    page = httpx.get(f"{product.base_url}/play", follow_redirects=True, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<main id="app">' in page.text and '<script src="app.js">' in page.text
    script = httpx.get(f"{product.base_url}/play/app.js", timeout=10)
    assert script.status_code == 200 and "new WebSocket(" in script.text
    assert httpx.get(f"{product.base_url}/play/style.css", timeout=10).status_code == 200
