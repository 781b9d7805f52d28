"""Fixtures for the User service's integration tests (imported by those modules; not a conftest plugin).

They point the real handlers at the test database and Redis db the root conftest names, with a
development key under a temporary state dir, and rebuild the composition root around that environment.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from local.devkeys import dev_env

REPO = Path(__file__).resolve().parents[2]
Handler = Callable[[dict[str, Any], Any], Any]


def load_function(relative: str, name: str) -> ModuleType:
    """Import a function's module by path under a unique name (every function has its own app.py)."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def auth_env(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    from quiz import bootstrap

    env = {
        "STAGE": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        "LOGIN_MAX_FAILURES_PER_USERNAME": "5",
        "LOGIN_MAX_FAILURES_PER_IP": "8",
        "LOGIN_FAILURE_WINDOW_SECONDS": "120",
        **dev_env(tmp_path_factory.mktemp("state")),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        bootstrap.reset()
        yield env
        bootstrap.reset()
    bootstrap.reset()


@pytest.fixture(scope="module")
def auth_app(auth_env: dict[str, str]) -> ModuleType:
    return load_function("functions/auth/app.py", "auth_function_app")


@pytest.fixture(scope="module")
def ws_authorizer(auth_env: dict[str, str]) -> ModuleType:
    return load_function("functions/auth/authorizer.py", "auth_function_authorizer")


@pytest.fixture
def new_username(database_url: str) -> Iterator[Callable[[], str]]:
    """Unique usernames for this test; their accounts (and sessions, by cascade) are deleted afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(f"t{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    if made:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM users WHERE lower(username) = ANY(%s)", ([m.lower() for m in made],))


@pytest.fixture
def source_ip() -> str:
    """An address no other test (or concurrent run) uses, so the per-address limiter is ours alone."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
