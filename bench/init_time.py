"""How long each function of template.yaml takes to cold-start (Lambda's init phase), and which imports cost it.

    .venv/bin/python -m bench.init_time                 # every function, 5 cold starts each
    .venv/bin/python -m bench.init_time --runs 10 --only AnswersFunction WsConnectFunction
    .venv/bin/python -m bench.init_time --product-dir /tmp/old --label before   # another checkout's functions

A cold start here is exactly the emulator's: `local.emulator.runtime.Worker` spawns `worker.py` with the
function's environment and sys.path, and the time is from the spawn to the worker's "ready" line (the
handler module imported). One more start per function runs under `python -X importtime` to name the
imports that cost the most. Nothing is invoked, so the functions' clients are not connected unless a
module connects at import time (which would show here). Starts run one after another: a parallel storm
is bench.reconnect_storm's business. Prints a table and writes bench/results/init-time-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.devkeys import dev_env
from local.emulator.runtime import WORKER_SCRIPT, Worker, function_environment
from local.emulator.template import DEFAULT_REGION, Function, load_application
from local.stack import REPO, load_stack

RESULTS = REPO / "bench" / "results"


def load_functions(state: Path, product_dir: Path = REPO) -> dict[str, Function]:
    """The template's functions with the environment `local.product` gives them (test database, dev keys)."""
    stack = load_stack()
    keys = dev_env(state)
    app = load_application(
        product_dir / "template.yaml",
        parameter_overrides={"JwtPrivateKey": keys["JWT_PRIVATE_KEY"], "JwtPublicKeys": keys["JWT_PUBLIC_KEYS"]},
        env_overrides={
            "Parameters": {
                "STAGE": "test",
                "DATABASE_URL": stack.postgres.url(stack.postgres.test_database),
                "REDIS_URL": stack.redis.url(1),
            }
        },
    )
    return dict(app.functions)


def time_cold_start(fn: Function) -> float:
    """Seconds from spawning the function's worker to its ready line, as the emulator's runtime sees it."""
    started = time.monotonic()
    worker = Worker(fn, DEFAULT_REGION, 0)
    elapsed = time.monotonic() - started
    init_error = worker.init_error
    worker.kill()
    if init_error is not None:
        raise RuntimeError(f"{fn.logical_id} failed to initialise: {init_error.get('errorMessage')}")
    return elapsed


def import_profile(fn: Function) -> list[dict[str, Any]]:
    """`-X importtime` of one cold start, summed per top-level package: where the init time goes."""
    command = [sys.executable, "-I", "-B", "-X", "importtime", str(WORKER_SCRIPT), *map(str, fn.python_path)]
    # stdin closed at once: the worker imports the handler, finds no invocation and exits. Both pipes are read
    # together, since the import profile alone overflows a pipe before the ready line is written.
    proc = subprocess.run(
        command,
        input=b"",
        capture_output=True,
        env=function_environment(fn, DEFAULT_REGION),
        cwd=str(fn.code_dir) if fn.code_dir.is_dir() else None,
        timeout=60,
        check=False,
    )
    stderr = proc.stderr
    self_us: dict[str, int] = defaultdict(int)
    for line in stderr.decode("utf-8", "replace").splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        if not own.strip().isdigit():
            continue  # the header line
        self_us[name.strip().split(".")[0]] += int(own)
    ranked = sorted(self_us.items(), key=lambda item: item[1], reverse=True)
    return [{"package": name, "ms": round(us / 1000, 1)} for name, us in ranked]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.init_time", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="cold starts per function (5)")
    parser.add_argument("--only", nargs="*", default=None, help="logical ids of the functions to measure (all)")
    parser.add_argument("--top", type=int, default=6, help="packages listed per function (6)")
    parser.add_argument("--label", default="", help="a word stored with the figures (before, after)")
    parser.add_argument("--product-dir", type=Path, default=REPO, help="the checkout whose functions and layer are measured (an A/B)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="init-time-") as state:
        functions = load_functions(Path(state), args.product_dir)
        for fid, fn in sorted(functions.items()):
            if args.only and fid not in args.only:
                continue
            times = [time_cold_start(fn) for _ in range(args.runs)]
            profile = import_profile(fn)
            rows.append(
                {
                    "function": fid,
                    "handler": fn.handler,
                    "runs": args.runs,
                    "median_ms": round(statistics.median(times) * 1000, 1),
                    "max_ms": round(max(times) * 1000, 1),
                    "min_ms": round(min(times) * 1000, 1),
                    "top_imports": profile[: args.top],
                }
            )
            row = rows[-1]
            tops = ", ".join(f"{p['package']} {p['ms']:.0f}" for p in row["top_imports"])
            print(f"{fid:28} {row['median_ms']:8.0f} {row['max_ms']:8.0f}   {tops}", flush=True)
    load = os.getloadavg()
    print(
        f"(median / max ms from spawn to ready over {args.runs} runs; top imports: self ms per package)  load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    result = {
        "at": stamp,
        "label": args.label,
        "product_dir": str(args.product_dir),
        "load_average": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
        "functions": rows,
    }
    path = RESULTS / f"init-time-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
