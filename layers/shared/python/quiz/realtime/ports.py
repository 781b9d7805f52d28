"""What pushing frames needs from the outside world: where each connection is (`Connections`) and a way to
post bytes to connections (`Delivery`). Adapters (`quiz.realtime.adapters`) implement them; the
broadcaster, the fan-out sender and the WebSocket sessions take only these."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Message = tuple[list[str], bytes]  # (connection ids, one payload for all of them)


def encode(frame: Mapping[str, Any]) -> bytes:
    """A frame as it goes on the wire, encoded once for every connection it is sent to."""
    return json.dumps(frame, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class Membership:
    connection_id: str
    quiz_id: str
    user_id: str


class Connections(Protocol):
    """The connections watching each quiz, and the quiz and user of each connection."""

    def add(self, m: Membership) -> None:
        """Record that a connection watches a quiz (leaving any quiz it watched before)."""
        ...

    def remove(self, connection_id: str) -> Membership | None: ...

    def remove_gone(self, quiz_id: str, connection_ids: list[str]) -> None:
        """Drop connections the gateway reported gone (410)."""
        ...

    def versions(self, quiz_ids: list[str]) -> list[int | None]:
        """Each quiz's change counter (None: never counted, or expired), so a reader re-reads only on change."""
        ...

    def of_quiz(self, quiz_id: str) -> dict[str, str]:
        """connection id -> user id for every connection watching the quiz."""
        ...

    def membership(self, connection_id: str) -> Membership | None: ...


class Delivery(Protocol):
    def send(self, connection_ids: list[str], data: bytes) -> list[str]:
        """Send ``data`` to each connection; returns the ids that are gone."""
        ...

    def send_many(self, messages: list[Message]) -> list[str]:
        """Several payloads, each to its own connections, in as few calls as the gateway allows."""
        ...


class Shards(Protocol):
    def dispatch(self, messages: list[Message]) -> None:
        """Have these frames sent elsewhere (another invocation), each to its connections; gone ones are pruned there."""
        ...
