"""Frames to a whole quiz (encoded once) or to individual players, through the connection registry."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from quiz.observability import span
from quiz.ports import QuizPush
from quiz.realtime.ports import Connections, Delivery, Message, encode


class Room:
    """The connections watching one quiz, indexed both ways (built once per change of the room)."""

    def __init__(self, members: Mapping[str, str]) -> None:
        self.members = dict(members)  # connection id -> user id
        self.connection_ids = list(self.members)
        self.by_user: dict[str, list[str]] = defaultdict(list)
        for connection_id, user_id in self.members.items():
            self.by_user[user_id].append(connection_id)

    def personal(self, frames: Mapping[str, Mapping[str, Any]]) -> list[Message]:
        """(that player's connections, their frame) for each player of `frames` who has a connection."""
        return [(self.by_user[u], encode(frame)) for u, frame in frames.items() if u in self.by_user]


class Broadcaster:
    """The layer's `quiz.ports.Notifier`. Sends frames to the connections watching a quiz; prunes the ones the gateway reports gone.

    It keeps a copy of each quiz's connection hash with the registry's change counter, and re-reads the
    hash only when the counter moved. The copy is only a shortcut: every call checks the counter first,
    so a connection that joined is reached by the next frame, whichever container sends it.
    """

    def __init__(self, registry: Connections, delivery: Delivery) -> None:
        self._registry = registry
        self._delivery = delivery
        self._copies: dict[str, tuple[int, Room]] = {}
        self._lock = threading.Lock()

    def _rooms(self, quiz_ids: list[str]) -> dict[str, Room]:
        """Each quiz's room, re-read only where it changed since the last call."""
        out: dict[str, Room] = {}
        for quiz_id, version in zip(quiz_ids, self._registry.versions(quiz_ids), strict=True):
            with self._lock:
                copy = self._copies.get(quiz_id)
            if version is not None and copy is not None and copy[0] == version:
                out[quiz_id] = copy[1]
                continue
            current = Room(self._registry.of_quiz(quiz_id))
            # Read after the counter: a change between the two reads is in `current` and moves the
            # counter again, so the next call re-reads; the copy can be older, never newer, than the counter.
            if version is not None:
                with self._lock:
                    self._copies[quiz_id] = (version, current)
            out[quiz_id] = current
        return out

    def _remove_gone(self, quiz_id: str, gone: list[str]) -> None:
        if gone:
            self._registry.remove_gone(quiz_id, gone)

    def to_quiz(self, quiz_id: str, frame: Mapping[str, Any]) -> int:
        """One frame, encoded once, to every connection of the quiz. Returns how many were reached."""
        connections = self._rooms([quiz_id])[quiz_id].connection_ids
        gone = self._delivery.send(connections, encode(frame))
        self._remove_gone(quiz_id, gone)
        return len(connections) - len(gone)

    def to_players(self, quiz_id: str, frames: Mapping[str, Mapping[str, Any]]) -> int:
        """A frame of their own to each player (by user id), on every connection they have open."""
        messages = self._rooms([quiz_id])[quiz_id].personal(frames)
        gone = self._delivery.send_many(messages)
        self._remove_gone(quiz_id, gone)
        return sum(len(ids) for ids, _ in messages) - len(gone)

    def deliver(self, pushes: Sequence[QuizPush]) -> dict[str, int]:
        """Several quizzes' ticks in one delivery: each board frame encoded once for all its connections,
        then the personal frames. Returns, per quiz, how many connections the quiz has (what its board
        frame reached, or would have)."""
        with span("push", attributes={"quiz.quizzes": len(pushes)}) as pushing:
            reached = self._deliver(pushes)
            pushing.set_attribute("quiz.connections", sum(reached.values()))
            return reached

    def _deliver(self, pushes: Sequence[QuizPush]) -> dict[str, int]:
        rooms = self._rooms([p.quiz_id for p in pushes])
        # Every personal frame before any board frame: the players who answered are waiting for their own
        # score, and in a room of thousands a board frame is thousands of writes (and as many reads by
        # the clients) that would go first.
        messages: list[Message] = [m for push in pushes for m in rooms[push.quiz_id].personal(push.personal)]
        for push in pushes:
            if push.board is not None:
                messages.append((rooms[push.quiz_id].connection_ids, encode(push.board)))
        gone = set(self._delivery.send_many(messages))
        by_quiz: dict[str, list[str]] = defaultdict(list)
        for cid in gone:
            quiz_id = next(p.quiz_id for p in pushes if cid in rooms[p.quiz_id].members)
            by_quiz[quiz_id].append(cid)
        for quiz_id, ids in by_quiz.items():
            self._remove_gone(quiz_id, ids)
        return {p.quiz_id: len(rooms[p.quiz_id].connection_ids) - len(by_quiz.get(p.quiz_id, ())) for p in pushes}

    def unsubscribe(self, quiz_id: str, user_id: str) -> None:
        """Stop sending this quiz's frames to every connection of this player (the host removed them)."""
        room = self._registry.of_quiz(quiz_id)
        self._remove_gone(quiz_id, [cid for cid, uid in room.items() if uid == user_id])
