"""The whole product on the emulator: the real template.yaml, real services, a Kafka topic of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from clients.quiz_client import QuizClient
from local.product import LocalProduct, ProductDidNotStart, local_product
from local.stack import REPO

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
