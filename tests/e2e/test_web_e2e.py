"""The web page at /play in headless Chromium, driven over the DevTools protocol: a host creates and runs a
quiz in one browser, a player joins and answers in another, and each sees what they should.

Skipped when Chromium is not installed (`apt-get install -y chromium`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from local.product import free_port
from tests.e2e.conftest import Product

pytestmark = pytest.mark.e2e

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
        deadline = time.monotonic() + 30
        while True:
            try:
                pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json() if t["type"] == "page"]
                if pages:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("headless Chromium did not start")
            time.sleep(0.2)
        self.ws: ClientConnection = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10).__enter__()
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
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                screen = self.js("document.getElementById('app').innerText")
                raise AssertionError(f"still false after {timeout}s: {expression}\nthe page shows:\n{screen}")
            time.sleep(0.1)

    def open(self, url: str) -> None:
        self.command("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && typeof render === 'function'")

    def fill(self, form_id: str, **values: str) -> None:
        for name, value in values.items():
            self.js(f"document.getElementById({form_id!r}).elements[{name!r}].value = {json.dumps(value)}")
        self.js(f"document.getElementById({form_id!r}).requestSubmit()")

    def text(self, element_id: str) -> str:
        return str(self.js(f"document.getElementById({element_id!r}).innerText"))

    def close(self) -> None:
        if hasattr(self, "ws"):
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[[str], Browser]]:
    """Opens a new headless Chromium (its own profile directory) and closes it after the test."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    opened: list[Browser] = []

    def open_browser(name: str) -> Browser:
        opened.append(Browser(tmp_path / name))
        return opened[-1]

    yield open_browser
    for b in opened:
        b.close()


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


def test_a_host_and_a_player_in_two_browsers(product: Product, browser: Callable[[str], Browser]) -> None:
    host, player = browser("host"), browser("player")
    signed_up(host, product.base_url, "Hazel")
    signed_up(player, product.base_url, "Pia")

    pin = hosting_example_quiz(host)

    # the player joins by PIN; the host sees them arrive
    player.fill("join-form", pin=pin.lower())
    player.wait("document.getElementById('game-status').innerText.startsWith('playing')")
    assert not player.js("document.getElementById('waiting').hidden")
    host.wait("document.getElementById('players').innerText.includes('Pia')")

    host.js("document.querySelector('[data-action=start]').click()")
    player.wait("document.getElementById('q-prompt').innerText === \"'Give up' means…\"")
    assert player.js("[...document.querySelectorAll('#q-choices button')].map(b => b.innerText)") == [
        "1. surrender",
        "2. donate",
        "3. lift",
    ]
    assert player.wait("/^\\d+ s$/.test(document.getElementById('q-countdown').innerText)")
    assert player.js("document.getElementById('q-typed').offsetParent === null"), "no text box for a multiple-choice question"
    assert host.wait("document.getElementById('q-solution').innerText") == "Answer: surrender"

    player.js("document.querySelector('#q-choices button[data-index=\"0\"]').click()")
    player.wait("document.getElementById('q-feedback').innerText.startsWith('✓ Correct! +')")
    player.wait("document.getElementById('my-rank').innerText.startsWith('You are #1 of 1')")
    player.wait("(document.querySelector('#board tr.me') || {innerText: ''}).innerText.includes('Pia (you)')")
    host.wait("document.getElementById('board').innerText.includes('Pia')")

    host.js("document.querySelector('[data-action=next]').click()")
    player.wait("document.getElementById('q-prompt').innerText.startsWith('One word for')")
    assert player.wait("document.getElementById('q-typed').offsetParent !== null"), "a text box for a typed question"
    assert player.js("document.getElementById('q-choices').childElementCount") == 0
    player.fill("q-typed", answer="postpone")
    player.wait("document.getElementById('q-feedback').innerText.startsWith('✓ Correct!')")

    host.js("document.querySelector('[data-action=end]').click()")
    player.wait("!document.getElementById('final').hidden")
    assert "Pia (you)" in player.text("standings")
    host.wait("!document.getElementById('final').hidden")


def test_a_wrong_pin_says_what_to_do(product: Product, browser: Callable[[str], Browser]) -> None:
    page = browser("quinn")
    signed_up(page, product.base_url, "Quinn")
    page.fill("join-form", pin="zzzzzz")
    page.wait("document.getElementById('notice').innerText === 'Quiz ZZZZZZ not found — check the PIN.'")
    assert not page.js("document.getElementById('home-view').hidden"), "back on the home page to try again"
