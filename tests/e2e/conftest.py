"""The whole product on the emulator: the real template.yaml, real services, a Kafka topic of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from clients.quiz_client import Frame, LiveSession, QuizClient
from local.product import LocalProduct, ProductDidNotStart, local_product
from local.stack import REPO
from tests.asyncapi_check import FrameContract

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
    clients: list[QuizClient] = []

    def signed_up(display_name: str) -> QuizClient:
        c = QuizClient(product.base_url)
        clients.append(c)
        c.signup(f"p{uuid.uuid4().hex[:12]}", "correct horse battery staple", display_name)
        return c

    yield signed_up
    for c in clients:
        c.close()


@pytest.fixture(autouse=True)
def frames_follow_the_asyncapi_document(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every frame a test's clients send and receive over the WebSocket (through `LiveSession`) is checked
    against docs/asyncapi.yaml when the test ends, so the document cannot drift from the code. A test that
    sends malformed frames on purpose marks itself `sends_invalid_frames`: what it receives is still checked."""
    sessions: list[LiveSession] = []
    sent: list[Frame] = []
    opened, send = LiveSession.__init__, LiveSession.send

    def recording_init(self: LiveSession, *args: object, **kwargs: object) -> None:
        sessions.append(self)
        opened(self, *args, **kwargs)  # type: ignore[arg-type]

    def recording_send(self: LiveSession, frame: Frame) -> None:
        sent.append(dict(frame))
        send(self, frame)

    monkeypatch.setattr(LiveSession, "__init__", recording_init)
    monkeypatch.setattr(LiveSession, "send", recording_send)
    yield
    contract = FrameContract.load()
    errors = [] if request.node.get_closest_marker("sends_invalid_frames") else [e for f in sent for e in contract.sent_errors(f)]
    errors += [e for session in sessions for _, frame in list(session.frames) for e in contract.received_errors(frame)]
    assert not errors, "frames that docs/asyncapi.yaml does not describe:\n" + "\n".join(errors[:20])
