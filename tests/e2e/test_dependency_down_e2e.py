"""With PostgreSQL or Redis unreachable, the product answers a prompt 503 `service_unavailable` with
Retry-After through the emulator, not the runtime's timeout (a 500 after 10 s). The functions'
DATABASE_URL or REDIS_URL points at a closed port; nothing else changes. No timing thresholds: the
status tells a timeout from a 503."""

from __future__ import annotations

import uuid

import httpx
import pytest

from local.product import ProductDidNotStart, local_product

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("down", "route"),
    [
        ({"DATABASE_URL": "postgresql://quiz:quiz@127.0.0.1:1/quiz"}, "/auth/signup"),  # the account is written first
        ({"REDIS_URL": "redis://127.0.0.1:1/1"}, "/auth/login"),  # the login throttle is read first
    ],
)
def test_an_auth_call_with_a_dependency_down_is_503_with_retry_after(
    database_url: str, redis_url: str, down: dict[str, str], route: str
) -> None:
    try:
        with local_product(kafka=False, env=down) as product:
            body = {"username": f"p{uuid.uuid4().hex[:12]}", "password": PASSWORD, "display_name": "Ana"}
            for _ in range(2):  # a cold worker, then a warm one with the same dead client
                response = httpx.post(f"{product.base_url}{route}", json=body, timeout=30)
                assert response.status_code == 503, response.text
                assert int(response.headers["Retry-After"]) > 0
                assert response.json()["error"]["code"] == "service_unavailable"
    except ProductDidNotStart as exc:
        pytest.fail(str(exc))
