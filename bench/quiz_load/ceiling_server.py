"""The bare fan-out ceiling's server: a minimal `websockets` asyncio server and nothing else.

    python -m bench.quiz_load.ceiling_server --port 8765

Prints "ready" once listening. A client's text frame `{"go": M, "participants": N}` makes it send M
leaderboard-sized frames to every connected client with `websockets.broadcast`, as fast as the sockets
drain (it waits while any socket's write buffer is over a high-water mark, so the measure is delivery,
not how much memory a send buffer can grow to). Runs until terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.quiz_load.fanout import probe_frame
from bench.quiz_load.live import run_loop

HIGH_WATER = 256 * 1024  # bytes waiting in one socket's send buffer before broadcasting pauses


class Ceiling:
    def __init__(self) -> None:
        self.clients: set[ServerConnection] = set()
        self.blasts: set[asyncio.Task[None]] = set()

    async def handler(self, conn: ServerConnection) -> None:
        self.clients.add(conn)
        try:
            async for message in conn:
                order = json.loads(message)
                if isinstance(order, dict) and "go" in order:
                    task = asyncio.create_task(self.blast(int(order["go"]), int(order.get("participants", 0))))
                    self.blasts.add(task)
                    task.add_done_callback(self.blasts.discard)
        finally:
            self.clients.discard(conn)

    async def blast(self, frames: int, participants: int) -> None:
        for seq in range(frames):
            broadcast(self.clients, probe_frame(seq, participants))
            await asyncio.sleep(0)
            while any(c.transport.get_write_buffer_size() > HIGH_WATER for c in self.clients):
                await asyncio.sleep(0.001)


async def serve_forever(port: int) -> None:
    ceiling = Ceiling()
    async with serve(ceiling.handler, "127.0.0.1", port, compression=None, ping_interval=None, max_size=2**20, backlog=4096):
        print("ready", flush=True)
        await asyncio.Future()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.quiz_load.ceiling_server")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args(argv)
    run_loop(serve_forever(a.port))


if __name__ == "__main__":
    main()
