"""Redis clients, built once per container and shared by every adapter."""

from __future__ import annotations

import threading

import redis

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def client(url: str) -> redis.Redis:
    with _lock:
        found = _clients.get(url)
        if found is None:
            found = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30)
            _clients[url] = found
        return found
