"""One slice of a large tick's frames, posted by its own invocation (the AWS side of sharded fan-out)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quiz.realtime.ports import Connections, Delivery, Message


class BadSlice(ValueError):
    """The invocation's payload is not a slice a pusher sends; retrying cannot fix it."""


@dataclass(frozen=True)
class Slice:
    """Frames, each to its connections: ``{"messages": [{"connectionIds": [...], "dataBase64": "..."}, ...]}``
    (also read: one frame as ``{"connectionIds": [...], "dataBase64": "..."}``, the shape pushers sent before
    a slice could hold several, so that events queued across a deploy are still delivered)."""

    messages: list[Message]

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> Slice:
        parts = event.get("messages", [event]) if isinstance(event, Mapping) else None
        if not isinstance(parts, list) or not parts:
            raise BadSlice("messages must be a non-empty list of {connectionIds, dataBase64}")
        return cls([_message(part) for part in parts])


def _message(part: Any) -> Message:
    ids = part.get("connectionIds") if isinstance(part, Mapping) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise BadSlice("connectionIds must be a list of connection ids")
    try:
        data = base64.b64decode(str(part.get("dataBase64", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSlice("dataBase64 must be base64") from exc
    return ids, data


class SliceSender:
    """Posts a slice through the management API and removes the connections the gateway says are gone."""

    def __init__(self, delivery: Delivery, registry: Connections) -> None:
        self._delivery = delivery
        self._registry = registry

    def send(self, piece: Slice) -> dict[str, int]:
        gone = set(self._delivery.send_many(piece.messages))
        for connection_id in gone:
            self._registry.remove(connection_id)
        delivered = sum(1 for ids, _ in piece.messages for cid in ids if cid not in gone)
        return {"delivered": delivered, "gone": len(gone)}
