"""Redis clients, built once per container and shared by every adapter.

Short, explicit timeouts so that a Redis that is down or stuck gives a prompt 503 well inside the
function's 10 s timeout: connect and each reply within `SOCKET_TIMEOUT_S`, one retry on a fresh
connection (a pooled connection that Redis dropped, e.g. after a restart, costs no failed request).
Worst case per command: 2 × (connect + reply) = 4 s. redis-py's own default retries ten times.
"""

from __future__ import annotations

import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SOCKET_TIMEOUT_S = 1.0
RETRIES = 1

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def client(url: str) -> redis.Redis:
    with _lock:
        found = _clients.get(url)
        if found is None:
            found = redis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_S,
                socket_connect_timeout=SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), RETRIES),
                health_check_interval=30,
            )
            _clients[url] = found
        return found
