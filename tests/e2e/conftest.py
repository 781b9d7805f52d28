"""The whole product on the emulator: the real template.yaml, real services, a Kafka topic of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clients.quiz_client import QuizClient
from local.product import LocalProduct, ProductDidNotStart, local_product
from local.stack import REPO
from tests.support import CHROMIUM, Browser, FrameRecorder, sign_ups

__all__ = ["REPO", "Product"]

Product = LocalProduct


@pytest.fixture(scope="session")
def product(database_url: str, redis_url: str, kafka_bootstrap: str) -> Iterator[Product]:
    """`python -m local.emulator` on a free port with the product's template and a Kafka topic of its own."""
    try:
        with local_product() as running:
            yield running
    except ProductDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture
def player(product: Product) -> Iterator[Callable[[str], QuizClient]]:
    """Signs up a new user (a random username) and closes their client after the test."""
    with sign_ups(product.base_url) as signed_up:
        yield signed_up


@pytest.fixture(autouse=True)
def frames_follow_the_asyncapi_document(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every frame a test's clients send and receive over the WebSocket (through `LiveSession`) is checked
    against docs/asyncapi.yaml when the test ends, so the document cannot drift from the code. A test that
    sends malformed frames on purpose marks itself `sends_invalid_frames`: what it receives is still checked."""
    recorder = FrameRecorder()
    recorder.install(monkeypatch)
    yield
    recorder.assert_documented(check_sent=not request.node.get_closest_marker("sends_invalid_frames"))


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
