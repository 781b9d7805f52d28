"""The web page at /play in headless Chromium, driven over the DevTools protocol: a host creates and runs a
quiz in one browser, a player joins and answers in another, and each sees what they should.

The whole-quiz test keeps a screenshot of the host's report: in the test's tmp dir and, for people to
look at, as tests/artifacts/web-host-report.png (gitignored).

Skipped when Chromium is not installed (`apt-get install -y chromium`)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Product
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


ARTIFACTS = REPO / "tests" / "artifacts"


def test_a_whole_quiz_to_the_podium_the_report_and_the_words_to_practise(
    product: Product, browser: Callable[[str], Browser], tmp_path: Path
) -> None:
    host, pia, pete = browser("host"), browser("pia"), browser("pete")
    signed_up(host, product.base_url, "Hazel")
    signed_up(pia, product.base_url, "Pia")
    signed_up(pete, product.base_url, "Pete")
    pin = hosting_example_quiz(host)
    for player, name in ((pia, "Pia"), (pete, "Pete")):
        player.fill("join-form", pin=pin)
        player.wait("document.getElementById('game-status').innerText.startsWith('playing')")
        host.wait(f"document.getElementById('players').innerText.includes({name!r})")

    # question 1 (choices surrender / donate / lift): Pia right, Pete wrong
    host.js("document.querySelector('[data-action=start]').click()")
    for player, choice in ((pia, 0), (pete, 1)):
        player.wait("document.querySelectorAll('#q-choices button:not([disabled])').length === 3")
        player.js(f"document.querySelector('#q-choices button[data-index=\"{choice}\"]').click()")
        player.wait("document.getElementById('q-feedback').innerText.includes('points')")
    # question 2 (typed, postpone): Pia right, Pete wrong; question 3 is never asked
    host.js("document.querySelector('[data-action=next]').click()")
    for player, word in ((pia, "postpone"), (pete, "cancel")):
        player.wait("document.getElementById('q-typed').offsetParent !== null && !document.getElementById('q-typed').answer.disabled")
        player.fill("q-typed", answer=word)
        player.wait("document.getElementById('q-feedback').innerText.includes('points')")
    host.js("document.querySelector('[data-action=end]').click()")

    # everyone: the podium
    for page in (host, pia, pete):
        page.wait("document.querySelectorAll('#podium li').length === 2")
        assert page.js("[...document.querySelectorAll('#podium li .name')].map(n => n.innerText)") == ["Pia", "Pete"]
    assert host.js("document.getElementById('pacing').offsetParent === null"), "no Start / Next / End once it ended"

    # the host: a bar chart per question, the right answer's bar highlighted, and a table per player
    host.wait("!document.getElementById('report').hidden")
    assert host.js("document.querySelectorAll('#report-questions svg.chart').length") == 3
    bars = "[...document.querySelectorAll('#report-questions svg.chart')[0].querySelectorAll('rect.bar')]"
    assert host.js(f"{bars}.map(r => [Number(r.dataset.count), r.classList.contains('right')])") == [[1, True], [1, False], [0, False]]
    fills = host.js(f"{bars}.map(r => getComputedStyle(r).fill)")
    assert fills[0] != fills[1] == fills[2], "the right answer's bar stands out"
    typed = "document.querySelectorAll('#report-questions svg.chart')[1]"
    assert host.js(f"[...{typed}.querySelectorAll('text.label')].map(t => t.textContent)") == ["✓ right: postpone", "cancel"]
    stats = host.js("[...document.querySelectorAll('#report-questions .stats')].map(p => p.innerText)")
    assert stats[0].startswith("accuracy 50 % · median time ") and stats[2] == "not asked"
    table = host.js("[...document.querySelectorAll('#report-players tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
    assert [row[:2] + row[3:4] + row[5:] for row in table] == [["#1", "Pia", "2 / 2", "2"], ["#2", "Pete", "0 / 2", "0"]]
    assert int(table[0][2]) > 1000 and table[1][2] == "0", "scores"
    assert all(re.fullmatch(r"\d+\.\d s", row[4]) for row in table), "average answer times"
    shot = host.screenshot(tmp_path / "web-host-report.png")
    assert shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)

    # the host downloads a table as CSV (fetched with the token, handed over as a Blob)
    filename, text = host.js("downloadCsv('questions').then(d => d.blob.text().then(t => [d.filename, t]))")
    assert filename == f"quiz-{pin}-questions.csv"
    assert text.splitlines()[0].startswith("question_id,kind,prompt,correct_answer,answered,correct,accuracy")

    # Pete: the words he missed, with the right answers; Pia missed none
    pete.wait("!document.getElementById('review').hidden")
    assert pete.js("[...document.querySelectorAll('#missed-words li .right')].map(s => s.innerText)") == ["surrender", "postpone"]
    assert "(you: cancel)" in pete.text("missed-words")
    pia.wait("!document.getElementById('review').hidden")
    assert "missed nothing" in pia.text("review-summary")
    assert pia.js("document.getElementById('report').hidden") and pete.js("document.getElementById('report').hidden"), (
        "the report is the host's"
    )

    # the host plays it again: a new PIN, in its lobby
    host.js("document.getElementById('play-again').click()")
    new_pin = host.wait(f"(t => t && t !== {pin!r} && t)(document.getElementById('host-pin').innerText)")
    host.wait("document.getElementById('game-status').innerText.startsWith('hosting · 3 questions · open')")
    assert host.js("document.getElementById('pacing').offsetParent !== null"), "the new quiz's pacing buttons"
    assert host.js("document.getElementById('report').hidden") and host.js("document.getElementById('final').hidden")
    assert new_pin in host.text("notice")
