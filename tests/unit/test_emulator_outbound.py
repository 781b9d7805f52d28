"""A socket's outbound frames (LiveConnection) against a fake server send that can be made to wait like a full socket."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message

from local.emulator import events
from local.emulator.websocket import SLOW_CONSUMER, LiveConnection

CONN = events.WsConnection("BFHPhfCWIAMCKlQ=", 1731324924553, "127.0.0.1", "test")


class FakeServerSend:
    """An ASGI send that returns at once while the client reads, and waits while it does not."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.reading = asyncio.Event()
        self.reading.set()
        self.unwound = 0

    async def __call__(self, message: Message) -> None:
        try:
            await self.reading.wait()
        finally:
            self.unwound += 1
        self.sent.append(message.get("text", message.get("code")))


def frame(n: int) -> Message:
    return {"type": "websocket.send", "text": f"frame {n}"}


def run(test: Any) -> None:
    asyncio.run(test())


def test_frames_go_out_at_once_while_the_client_reads() -> None:
    async def scenario() -> None:
        send = FakeServerSend()
        live = LiveConnection(CONN, send, None, outbound_limit=4)
        for n in range(3):
            assert live.enqueue(frame(n))
            assert send.sent == [f"frame {i}" for i in range(n + 1)]  # sent before the caller even yields
        assert live.writer is None

    run(scenario)


def test_frames_given_while_a_send_waits_follow_it_in_order() -> None:
    async def scenario() -> None:
        send = FakeServerSend()
        live = LiveConnection(CONN, send, None, outbound_limit=4)
        live.enqueue(frame(0))
        send.reading.clear()  # the client stops reading: the next send waits
        for n in (1, 2, 3):
            assert live.enqueue(frame(n))
        assert send.sent == ["frame 0"] and live.writer is not None
        send.reading.set()
        await live.writer
        assert send.sent == ["frame 0", "frame 1", "frame 2", "frame 3"]
        assert live.writer is None
        assert live.enqueue(frame(4))  # nothing waits any more: straight out again
        assert send.sent[-1] == "frame 4"

    run(scenario)


def test_a_client_too_slow_for_the_limit_is_closed_1008_after_what_was_queued() -> None:
    async def scenario() -> None:
        send = FakeServerSend()
        live = LiveConnection(CONN, send, None, outbound_limit=2)
        send.reading.clear()
        assert live.enqueue(frame(0))  # waits in the server's send
        assert live.enqueue(frame(1)) and live.enqueue(frame(2))  # the backlog is full
        assert not live.enqueue(frame(3))
        assert (live.closing, live.close_code, live.close_reason) == (True, *SLOW_CONSUMER)
        assert not live.enqueue(frame(4))  # closing: nothing more is taken
        writer = live.writer
        assert writer is not None
        send.reading.set()
        await writer
        assert send.sent == ["frame 0", "frame 1", "frame 2", 1008]

    run(scenario)


def test_a_closed_socket_drops_its_backlog_and_unwinds_the_waiting_send() -> None:
    async def scenario() -> None:
        send = FakeServerSend()
        live = LiveConnection(CONN, send, None, outbound_limit=4)
        send.reading.clear()
        live.enqueue(frame(0))
        live.enqueue(frame(1))
        writer = live.writer
        assert writer is not None
        await asyncio.sleep(0)  # the writer is waiting now
        live.stop()
        await asyncio.gather(writer, return_exceptions=True)
        assert writer.cancelled() and send.sent == [] and send.unwound == 1
        assert not live.enqueue(frame(2))

    run(scenario)


def test_a_send_that_fails_marks_the_socket_gone() -> None:
    async def failing(message: Message) -> None:
        raise OSError("client disconnected")

    async def scenario() -> None:
        live = LiveConnection(CONN, failing, None, outbound_limit=4)
        assert live.enqueue(frame(0))  # taken; the receive loop sees the disconnect
        assert live.gone and not live.enqueue(frame(1))

    run(scenario)
