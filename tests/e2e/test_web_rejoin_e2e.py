"""The web page gets back into its quiz by itself: when Redis lost the connection registry (its next ping
names the quiz, the server answers `rejoin`, the page joins again) and when its socket closes.

Skipped when Chromium is not installed, like tests/e2e/test_web_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

from tests.e2e.conftest import Product
from tests.support import Browser, hosting_example_quiz, signed_up

pytestmark = pytest.mark.e2e

PING_WAIT_S = 60.0  # the page pings every 20 s; this only bounds how long a broken page is waited for

RECORD_SENT = """
window.sent = [];
const original = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) { window.sent.push(JSON.parse(data)); return original.call(this, data); };
"""


def page_sent(action: str, quiz_id: str) -> str:
    """A page expression: has the page sent this action for this quiz since `window.sent` was cleared?"""
    return f"window.sent.some(f => f.action === {json.dumps(action)} && f.quiz_id === {json.dumps(quiz_id)})"


def lose_registry(r: redis.Redis, quiz_id: str) -> None:
    """What a flush does to this quiz's registry (only this quiz's keys: other tests share the database)."""
    connection_ids = list(r.hkeys(f"quiz:{quiz_id}:connections"))
    assert connection_ids, "someone was registered before"
    r.delete(f"quiz:{quiz_id}:connections", f"quiz:{quiz_id}:connections:v", *(f"connection:{c}" for c in connection_ids))


def test_the_page_rejoins_after_a_lost_registry_and_after_its_socket_closes(
    product: Product, browser: Callable[[str], Browser], redis_url: str
) -> None:
    host, player = browser("host"), browser("player")
    signed_up(host, product.base_url, "Hazel")
    signed_up(player, product.base_url, "Pia")
    pin = hosting_example_quiz(host)
    player.js(RECORD_SENT)
    player.fill("join-form", pin=pin)
    player.wait("document.getElementById('game-status').innerText.startsWith('playing')")
    host.wait("document.getElementById('players').innerText.includes('Pia')")

    # Redis loses who is connected; the player's page notices on its own next ping and joins again
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    lose_registry(r, pin)
    player.js("window.sent = []")
    player.wait(page_sent("ping", pin), timeout=PING_WAIT_S)
    player.wait(page_sent("join", pin))
    host.js("document.querySelector('[data-action=start]').click()")
    player.wait("document.getElementById('q-prompt').innerText === \"'Give up' means…\"")

    # the socket closes under the page: it reconnects and joins again without a click
    player.js("window.sent = []; game.ws.close()")
    player.wait(page_sent("join", pin))
    player.wait("document.getElementById('game-status').innerText.startsWith('playing')")
    host.js("document.querySelector('[data-action=next]').click()")
    player.wait("document.getElementById('q-prompt').innerText.startsWith('One word for')")
