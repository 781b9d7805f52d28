"""The web page at /play in headless Chromium, driven over the DevTools protocol: a host creates and runs a
quiz in one browser, a player joins and answers in another, and each sees what they should.

Skipped when Chromium is not installed (`apt-get install -y chromium`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.conftest import Product
from tests.support import Browser, hosting_example_quiz, signed_up

pytestmark = pytest.mark.e2e


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
