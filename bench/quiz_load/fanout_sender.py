"""The fan-out probe's sender: the product's own delivery adapter in a process of its own.

    python -m bench.quiz_load.fanout_sender --endpoint http://127.0.0.1:8000 --frames 200 --senders 4

Reads the connection ids (a JSON list, one line) on stdin, builds one `ManagementApiDelivery` per sender
(as each leaderboard container has its own) and prints "ready". On a "go" line it posts the frames: each sender takes the next frame number and sends that
frame to every connection (`Delivery.send`, the call a leaderboard tick makes), until all are sent.
Then it prints one JSON line ({"sent_s", "gone"}) and exits when stdin closes (alive until then, so
that the probe's CPU meter, read after the last frame is in, counts this process).

A process of its own because the leaderboard function is one: sharing the load generator's event loop,
the sender waited behind the clients reading the frames, and the probe measured that queue.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections.abc import Sequence

from bench.quiz_load.fanout import probe_frame
from quiz.realtime.adapters.management_api import ManagementApiDelivery


def send_all(endpoint: str, ids: list[str], frames: int, senders: int) -> dict[str, float | int]:
    deliveries = [ManagementApiDelivery(endpoint) for _ in range(senders)]
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return {"sent_s": 0.0, "gone": 0}
    numbers = itertools.count()
    lock = threading.Lock()
    gone: set[str] = set()

    def run(delivery: ManagementApiDelivery) -> None:
        while True:
            with lock:
                seq = next(numbers)
            if seq >= frames:
                return
            lost = delivery.send(ids, probe_frame(seq, len(ids)).encode())
            if lost:
                with lock:
                    gone.update(lost)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(d,), name=f"sender-{i}") for i, d in enumerate(deliveries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"sent_s": round(time.monotonic() - started, 3), "gone": len(gone)}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.quiz_load.fanout_sender")
    p.add_argument("--endpoint", required=True, help="the management API's base URL (the emulator's)")
    p.add_argument("--frames", type=int, required=True, help="frames to send to every connection")
    p.add_argument("--senders", type=int, default=4, help="calls in flight at once, one per sender thread (default: 4)")
    a = p.parse_args(argv)
    ids = json.loads(sys.stdin.readline())
    print(json.dumps(send_all(a.endpoint, [str(i) for i in ids], a.frames, a.senders)), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
