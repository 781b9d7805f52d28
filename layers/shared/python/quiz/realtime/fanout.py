"""One slice of a large room's frame, posted by its own invocation (the AWS side of sharded fan-out)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quiz.realtime.ports import Connections, Delivery


class BadSlice(ValueError):
    """The invocation's payload is not a slice a pusher sends; retrying cannot fix it."""


@dataclass(frozen=True)
class Slice:
    connection_ids: list[str]
    data: bytes

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> Slice:
        ids = event.get("connectionIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise BadSlice("connectionIds must be a list of connection ids")
        try:
            data = base64.b64decode(str(event.get("dataBase64", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadSlice("dataBase64 must be base64") from exc
        return cls(ids, data)


class SliceSender:
    """Posts a slice through the management API and removes the connections the gateway says are gone."""

    def __init__(self, delivery: Delivery, registry: Connections) -> None:
        self._delivery = delivery
        self._registry = registry

    def send(self, piece: Slice) -> dict[str, int]:
        gone = self._delivery.send(piece.connection_ids, piece.data)
        for connection_id in gone:
            self._registry.remove(connection_id)
        return {"delivered": len(piece.connection_ids) - len(gone), "gone": len(gone)}
