"""How long `make run` takes until the emulator answers, cold, warm and hot. Prints and writes figures.

    python -m bench.startup_time --mode cold   # a fresh clone, no venv, empty pip and Maven caches
    python -m bench.startup_time --mode warm   # this checkout, everything installed, services stopped
    python -m bench.startup_time --mode hot    # this checkout, services already running

cold and warm stop the services of this checkout first (`make down`) and need ports 5432, 6379,
2181, 9092 and 8000 free; cold leaves the clone's services stopped and deletes the clone. Debian
packages already installed stay installed (remove e.g. redis-server first for a colder start).
Every run is bounded by --timeout and stops `make run` at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from local.stack import REPO

RESULTS = REPO / "bench" / "results"


def time_make_run(checkout: Path, env: dict[str, str], timeout_s: float, log: Path) -> float:
    """Seconds from `make run` to GET /@emulator answering 200."""
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(["make", "run"], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"`make run` exited with {proc.returncode}; see {log}")
                try:
                    if httpx.get("http://127.0.0.1:8000/@emulator", timeout=0.5).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                if time.monotonic() - started > timeout_s:
                    raise TimeoutError(f"the emulator did not answer within {timeout_s:.0f} s; see {log}")
                time.sleep(0.1)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup_time", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=["cold", "warm", "hot"], required=True)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    env = dict(os.environ)
    if args.mode in ("cold", "warm"):
        subprocess.run(["make", "down"], cwd=REPO, capture_output=True, check=False)
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        checkout = REPO
        if args.mode == "cold":
            checkout = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", str(REPO), str(checkout)], check=True)
            env |= {"PIP_NO_CACHE_DIR": "1", "MAVEN_OPTS": f"-Dmaven.repo.local={Path(tmp) / 'm2'}"}
        log = RESULTS / f"startup-{args.mode}-{stamp}.log"
        try:
            seconds = time_make_run(checkout, env, args.timeout, log)
        finally:
            if args.mode == "cold":
                subprocess.run(["make", "down"], cwd=checkout, capture_output=True, check=False)
    result = {"mode": args.mode, "seconds_to_emulator": round(seconds, 2), "at": stamp, "log": str(log)}
    (RESULTS / f"startup-{args.mode}-{stamp}.json").write_text(json.dumps(result, indent=2))
    print(f"make run ({args.mode}): {seconds:.2f} s until the emulator answered on :8000   (log: {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
