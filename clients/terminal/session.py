"""The live session: one WebSocket joined to a quiz, fed to a screen, joined again after a `rejoin`
frame or a reconnect, and pinged so the server notices a lost registration."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import httpx
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection

from clients.quiz_client import RECONNECT_SCHEDULE_S, Frame, reconnect_delays
from clients.terminal.account import Account
from clients.terminal.errors import PROG, CliError
from clients.terminal.render import emit
from clients.terminal.screens import PlayScreen, Screen, Send

# The WebSocket API closes a connection idle for 10 minutes; the ping also names the quiz, so a
# registration the server lost comes back within one interval (docs/websocket.md, "Lost registrations").
PING_EVERY_S = 20
RECONNECT_DELAYS_S = RECONNECT_SCHEDULE_S  # jittered (quiz_client.reconnect_delays); then give up and say how to rejoin by hand


# ---------------------------------------------------------------------------------------- event loop

Event = tuple[str, Any]


def pump_frames(ws: ClientConnection, events: queue.Queue[Event]) -> None:
    try:
        for message in ws:
            try:
                events.put(("frame", json.loads(message)))
            except ValueError:
                continue
        events.put(("closed", "the server closed the connection"))
    except ConnectionClosed as exc:
        events.put(("closed", f"the connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"))


def pump_lines(inp: TextIO, events: queue.Queue[Event]) -> None:
    for line in iter(inp.readline, ""):
        events.put(("line", line))
    events.put(("eof", None))


def run_live(
    account: Account, screen_for: Callable[[Send], Screen], inp: TextIO, out: TextIO, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Join over the WebSocket and show frames and typed commands until the quiz ends or the user leaves.

    It joins again by itself when the server says it lost this connection (`rejoin`) and after
    reconnecting a socket that closed under it; the seat and the score are the player's, not the socket's.
    """
    ws = account.open_socket()
    send_lock = threading.Lock()

    def send(frame: Frame) -> None:
        with send_lock:
            ws.send(json.dumps(frame))

    screen = screen_for(send)
    events: queue.Queue[Event] = queue.Queue()
    threading.Thread(target=pump_frames, args=(ws, events), daemon=True).start()
    threading.Thread(target=pump_lines, args=(inp, events), daemon=True).start()
    join = {"action": "join", "quiz_id": screen.quiz_id}
    send(join)
    last_sent = time.monotonic()
    try:
        while not screen.done:
            try:
                kind, value = events.get(timeout=0.2)
            except queue.Empty:
                kind, value = "tick", None
            now = time.monotonic()
            if kind == "frame" and value.get("type") == "rejoin":
                emit(out, [f"the server lost track of this connection — rejoining quiz {screen.quiz_id}"])
                send(join)
            elif kind == "frame":
                emit(out, screen.on_frame(value, now))
            elif kind == "line":
                emit(out, screen.on_line(value, now))
                last_sent = now
            elif kind == "eof":
                emit(out, screen.on_line("/quit" if isinstance(screen, PlayScreen) else "quit", now))
            elif kind == "closed":
                emit(out, [f"{value} — reconnecting…"])
                reopened = reconnect(account, sleep)
                if reopened is None:
                    command = f"{PROG} {'play' if isinstance(screen, PlayScreen) else 'host'} {screen.quiz_id}"
                    emit(out, [f"error: {value} — run `{command}` to rejoin"])
                    return 1
                with send_lock:
                    ws = reopened
                threading.Thread(target=pump_frames, args=(ws, events), daemon=True).start()
                send(join)
                last_sent = now
            emit(out, screen.tick(now))
            if now - last_sent > PING_EVERY_S:
                send({"action": "ping", "quiz_id": screen.quiz_id})
                last_sent = now
        return screen.exit_code
    finally:
        ws.close()


def reconnect(account: Account, sleep: Callable[[float], None]) -> ClientConnection | None:
    """A new socket after spaced attempts (the first after a quarter of a second), or None when the server
    stays out of reach for about two minutes."""
    for delay in reconnect_delays(RECONNECT_DELAYS_S):
        sleep(delay)
        try:
            return account.open_socket()
        except (CliError, OSError, WebSocketException, httpx.HTTPError):
            continue
    return None


# ---------------------------------------------------------------------------------------- commands
