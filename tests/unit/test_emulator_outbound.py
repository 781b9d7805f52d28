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


# ---------------------------------------------------------------------------- frames written to the transport directly


class StubTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing


class StubProtocol:
    """The attributes of uvicorn's websockets-sansio protocol that `Wire` reads, in the state of an open socket."""

    def __init__(self) -> None:
        from websockets.protocol import State

        self.transport = StubTransport()
        self.handshake_complete, self.initial_response, self.close_sent, self.disconnected = True, None, False, False
        self.writable = asyncio.Event()
        self.writable.set()
        self.conn = type("Conn", (), {"state": State.OPEN, "extensions": [], "expect_continuation_frame": False})()


def parsed(data: bytes) -> Any:
    """The frame a client reads from these bytes (websockets' own parser, client side: server frames are unmasked)."""
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")


def test_a_frame_serialised_once_is_what_a_client_reads_at_every_payload_length() -> None:
    from websockets.frames import Opcode

    from local.emulator.websocket import wire_frame

    for size in (0, 125, 126, 65535, 65536, 200_000):  # the three length encodings of RFC 6455 and their edges
        text = "é" * (size // 2) + "x" * (size % 2)
        frame = parsed(wire_frame({"type": "websocket.send", "text": text}))
        assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, text)
    frame = parsed(wire_frame({"type": "websocket.send", "bytes": b"\xff\x00"}))
    assert (frame.opcode, frame.data) == (Opcode.BINARY, b"\xff\x00")


def test_fan_out_writes_to_the_transport_and_falls_back_to_send_in_order_when_it_is_paused() -> None:
    from local.emulator.websocket import Wire, wire_frame

    async def scenario() -> None:
        send, protocol = FakeServerSend(), StubProtocol()
        live = LiveConnection(CONN, send, None, outbound_limit=4, wire=Wire(protocol))
        assert live.enqueue(frame(0), wire_frame(frame(0)))
        assert [parsed(b).data.decode() for b in protocol.transport.written] == ["frame 0"] and send.sent == []
        protocol.writable.clear()  # the transport is paused (flow control): the frame goes through send, which waits
        send.reading.clear()
        assert live.enqueue(frame(1), wire_frame(frame(1)))
        protocol.writable.set()
        assert live.enqueue(frame(2), wire_frame(frame(2)))  # queued behind frame 1, never written ahead of it
        assert len(protocol.transport.written) == 1
        send.reading.set()
        await asyncio.sleep(0.01)
        # frame 1 left through send; frame 2, queued behind it, went to the transport once that took writes again
        assert send.sent == ["frame 1"]
        assert [parsed(b).data.decode() for b in protocol.transport.written] == ["frame 0", "frame 2"]
        assert live.enqueue(frame(3), wire_frame(frame(3)))  # nothing waits any more: direct again
        assert [parsed(b).data.decode() for b in protocol.transport.written] == ["frame 0", "frame 2", "frame 3"]
        protocol.close_sent = True  # closing: never written directly
        assert live.enqueue(frame(4), wire_frame(frame(4)))
        assert len(protocol.transport.written) == 3 and send.sent[-1] == "frame 4"

    run(scenario)


def test_a_backlog_goes_to_the_transport_until_it_pauses_again_then_waits_in_send_in_order() -> None:
    from local.emulator.websocket import Wire, wire_frame

    async def scenario() -> None:
        send, protocol = FakeServerSend(), StubProtocol()
        writes = protocol.transport.write

        def write_then_pause_at_three(data: bytes) -> None:  # the third write fills the buffer: flow control pauses
            writes(data)
            if len(protocol.transport.written) == 3:
                protocol.writable.clear()
                send.reading.clear()

        protocol.transport.write = write_then_pause_at_three  # type: ignore[method-assign]
        live = LiveConnection(CONN, send, None, outbound_limit=10, wire=Wire(protocol))
        protocol.writable.clear()
        send.reading.clear()
        for n in range(6):  # frame 0 waits in send; 1-5 queue behind it
            assert live.enqueue(frame(n), wire_frame(frame(n)))
        protocol.writable.set()
        send.reading.set()
        await asyncio.sleep(0.01)
        # 1-3 written directly, the third write paused the transport: 4 waits in send, 5 behind it
        assert [parsed(b).data.decode() for b in protocol.transport.written] == ["frame 1", "frame 2", "frame 3"]
        assert send.sent == ["frame 0"] and live.writer is not None
        protocol.writable.set()
        send.reading.set()
        await asyncio.sleep(0.01)
        assert send.sent == ["frame 0", "frame 4"]
        assert [parsed(b).data.decode() for b in protocol.transport.written][-1] == "frame 5"
        assert live.writer is None and live.backlog is None

    run(scenario)
