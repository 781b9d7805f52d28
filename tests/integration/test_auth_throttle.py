"""Login throttling against the real Redis: parallel guesses cannot slip past the limit."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from quiz.auth.adapters.redis_store import RedisLoginThrottle
from quiz.config import LoginLimits
from quiz.errors import TooManyRequests

pytestmark = pytest.mark.integration


def test_parallel_guesses_are_counted_before_the_password_is_checked(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"test:throttle:{uuid.uuid4().hex[:8]}"
    throttle = RedisLoginThrottle(client, LoginLimits(per_username=5, per_source_ip=100, window_seconds=60), prefix=prefix)

    def attempt(_: int) -> bool:
        try:
            throttle.check("ana", "203.0.113.7")
            return True
        except TooManyRequests as exc:
            assert exc.retry_after > 0
            return False

    try:
        with ThreadPoolExecutor(10) as pool:
            allowed = list(pool.map(attempt, range(40)))
        assert allowed.count(True) == 5, "exactly the limit gets through, however many arrive at once"
        # a successful login clears the username and gives the address its reservation back
        throttle.check("carol", "198.51.100.9")
        throttle.record_success("carol", "198.51.100.9")
        assert client.get(f"{prefix}:ip:198.51.100.9") in (b"0", None)
        assert client.get(f"{prefix}:user:carol") is None
    finally:
        client.delete(*client.keys(f"{prefix}:*"))
        client.close()
