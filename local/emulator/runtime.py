"""The Lambda runtime of the emulator: per-function pools of worker processes, like Lambda execution environments.

Each function gets its own pool. A worker is a separate Python process started lazily (a cold start)
with that function's environment variables and sys.path (CodeUri first, then each layer's python/
directory), which imports the handler module once and then serves invocations one at a time, so
module-level clients are reused across invocations exactly as on Lambda. A pool grows up to the
function's concurrency limit; an invocation beyond it waits for a free worker.

Cold starts are bounded runtime-wide (`InitGate`): at most `init_concurrency` workers of all functions
import at once (default: the CPU count, at least 2), since a reconnect storm that spawned every pool's
workers together would have each import take many times longer and pass Lambda's 10 s init limit. An
invocation waiting for an init slot takes a worker of its function that became idle meanwhile instead of
cold-starting. When a pool's workers are retired (code reload, a Timeout) it re-warms in the background
up to its recent peak concurrency, the way Lambda keeps environments for the traffic it has just seen.

`Runtime.invoke(function_id, event)` is blocking, returns the handler's result and raises
`FunctionError` (the handler raised, or its module failed to import) or `FunctionTimeout` (the function's
Timeout passed: the worker is killed and replaced, in the background or by the next invocation's cold
start). Callers on the event loop run it in a thread; handlers never run on the event loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.emulator.events import new_id
from local.emulator.init_gate import InitGate
from local.emulator.metrics import EmulatorMetrics
from local.emulator.template import Function

log = logging.getLogger("emulator.runtime")

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit, counted from the spawn (never while waiting for an init slot)
PEAK_WINDOW_S = 600.0  # how far back "recent peak concurrency" looks: Lambda's idle environments live about this long
READ_CHUNK = 1 << 16  # a reply larger than this arrives in several reads
# Passed through from the emulator's environment so tools and credentials behave as in a container.
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class InvocationError(Exception):
    """An invocation did not produce a result."""


class FunctionError(InvocationError):
    """The handler raised (or the module failed to import); carries Lambda's error shape."""

    def __init__(self, function_id: str, error_type: str, message: str, stack_trace: list[str]) -> None:
        super().__init__(f"{function_id}: {error_type}: {message}")
        self.function_id = function_id
        self.error_type = error_type
        self.error_message = message
        self.stack_trace = stack_trace

    def payload(self) -> dict[str, Any]:
        """The body Lambda's Invoke API returns for a function error."""
        return {"errorMessage": self.error_message, "errorType": self.error_type, "stackTrace": self.stack_trace}


class FunctionTimeout(InvocationError):
    """The function ran past its Timeout; its worker was killed."""

    def __init__(self, function_id: str, timeout: float) -> None:
        super().__init__(f"{function_id}: Task timed out after {timeout:.2f} seconds")
        self.function_id = function_id
        self.timeout = timeout


class UnknownFunction(InvocationError):
    pass


def function_environment(fn: Function, region: str) -> dict[str, str]:
    """The environment a Lambda container gives this function: Lambda's reserved variables, then the template's."""
    env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{new_id()}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "LAMBDA_TASK_ROOT": str(fn.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "_HANDLER": fn.handler,
            "EMULATOR_FUNCTION_ARN": fn.arn,
            "TZ": ":UTC",
        }
    )
    # Lambda always has credentials in the environment; SDK clients (the management API) need some to sign.
    for key, default in (("AWS_ACCESS_KEY_ID", "emulator"), ("AWS_SECRET_ACCESS_KEY", "emulator"), ("AWS_SESSION_TOKEN", "")):
        value = os.environ.get(key, default)
        if value:
            env[key] = value
    # Where traces go is the host's setting (a collector beside the node, like the ADOT layer on AWS); the template still wins.
    env.update({k: v for k, v in os.environ.items() if k.startswith("OTEL_")})
    env.update(fn.environment)
    return env


class Worker:
    """One execution environment: a process serving one invocation at a time.

    The thread that invokes also forwards the worker's output (its stderr: the handler's prints and logs,
    Lambda's START / END / REPORT lines) to the emulator's log while it waits for the reply, so log lines
    and the reply need no thread of their own and stay in order. Between invocations nobody reads, and a
    background thread of the function that writes a lot then waits, as it would in a frozen Lambda
    environment; what it wrote is logged at the next invocation."""

    def __init__(self, fn: Function, region: str, generation: int, metric_line: Callable[[bytes], bool] | None = None) -> None:
        self.function = fn
        # Embedded Metric Format lines go to the node's /metrics (as CloudWatch reads them on AWS).
        self._metric_line = metric_line
        self.generation = generation
        self.invocations = 0
        spawned = time.monotonic()  # Lambda's init limit counts from here: a slot was obtained before
        self.process = subprocess.Popen(
            # -I: only the function's own path, no PYTHON* variables. -B: write no .pyc beside the code, since
            # a .pyc records its source's mtime in whole seconds and a same-size edit within that second would
            # load the old code after a reload.
            [sys.executable, "-I", "-B", str(WORKER_SCRIPT), *map(str, fn.python_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=function_environment(fn, region),
            cwd=str(fn.code_dir) if fn.code_dir.is_dir() else None,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._stdin: IO[bytes] = self.process.stdin
        self._stdout: IO[bytes] = self.process.stdout
        self._stderr: IO[bytes] = self.process.stderr
        self._reply = bytearray()  # protocol bytes read past the last complete line
        self._log_tail = b""  # an output line still missing its newline
        self._logger = logging.getLogger(f"emulator.function.{fn.logical_id}")
        self._log_lock = threading.Lock()
        self._stderr_fd = self._stderr.fileno()
        self._stderr_open = True
        os.set_blocking(self._stderr_fd, False)  # drained after each reply, without waiting for more
        # poll, not select: select() cannot watch a descriptor numbered 1024 or more, and a node holding
        # thousands of WebSockets hands its workers' pipes numbers far above that.
        self._poll = select.poll()
        self._poll.register(self._stdout.fileno(), select.POLLIN)
        self._poll.register(self._stderr_fd, select.POLLIN)
        ready = self._read_line(spawned + max(INIT_TIMEOUT_S, fn.timeout))
        if ready is None:
            exited = self.process.poll()
            self.kill()
            if exited is not None:
                raise FunctionError(fn.logical_id, "Runtime.ExitError", f"the runtime exited during init with status {exited}", [])
            raise FunctionTimeout(fn.logical_id, INIT_TIMEOUT_S)
        self.init_error: dict[str, Any] | None = ready.get("error")
        self.init_ms = (time.monotonic() - spawned) * 1000  # the first invocation's REPORT line carries it, as on Lambda

    def _forward_logs(self) -> None:
        """Log every complete line the worker has written so far, without waiting for more."""
        with self._log_lock:  # kill() at shutdown may drain while an invoking thread still does
            try:
                while self._stderr_open:
                    chunk = os.read(self._stderr.fileno(), READ_CHUNK)
                    if not chunk:
                        self._end_of_logs()
                        return
                    *lines, self._log_tail = (self._log_tail + chunk).split(b"\n")
                    if self._metric_line is not None:
                        lines = [raw for raw in lines if not (raw.startswith(b'{"_aws"') and self._metric_line(raw))]
                    if self._logger.isEnabledFor(logging.INFO):
                        for raw in lines:
                            self._log_line(raw)
            except BlockingIOError:
                return
            except (OSError, ValueError):  # closed under us (the pool is stopping)
                self._end_of_logs()

    def _end_of_logs(self) -> None:
        self._stderr_open = False
        with contextlib.suppress(KeyError):
            self._poll.unregister(self._stderr_fd)  # else poll() would report the hang-up again and again
        if self._log_tail:
            self._log_line(self._log_tail)
            self._log_tail = b""

    def _log_line(self, raw: bytes) -> None:
        # A record made directly: Logger.info() would first walk the stack for a caller nobody prints, and
        # a busy node logs at least three lines (START, END, REPORT) per invocation.
        logger = self._logger
        logger.handle(logger.makeRecord(logger.name, logging.INFO, str(WORKER_SCRIPT), 0, "%s", (raw.decode("utf-8", "replace"),), None))

    def _read_line(self, deadline: float) -> dict[str, Any] | None:
        """The worker's next protocol line, or None if the deadline passed or the worker died."""
        buffer = self._reply
        end = buffer.find(b"\n")
        while end < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                # POLLHUP and POLLERR are reported without asking: a dead worker wakes us and reads as EOF.
                ready = self._poll.poll(remaining * 1000)
                if not ready:
                    return None
                stdout = self._stdout.fileno()
                # Output first: what the handler printed before it returned is logged before its reply is read.
                if any(fd != stdout for fd, _ in ready):
                    self._forward_logs()
                if not any(fd == stdout for fd, _ in ready):
                    continue
                chunk = os.read(stdout, READ_CHUNK)
            except (OSError, ValueError):  # the pipe was closed under us (the pool is stopping)
                return None
            if not chunk:
                self._forward_logs()  # the worker died: keep its last words (a traceback, a fatal error)
                return None
            newline = chunk.find(b"\n")  # only the new bytes: a large reply is scanned once, not once per read
            if newline >= 0:
                end = len(buffer) + newline
            buffer += chunk
        # The worker writes END and REPORT before its reply: they are in the pipe already, log them now.
        self._forward_logs()
        parsed: dict[str, Any] = json.loads(buffer[:end])
        del buffer[: end + 1]
        return parsed

    def invoke(self, event: Any, request_id: str) -> dict[str, Any] | None:
        """Run one invocation; None means the Timeout passed (or the worker died) and the worker must go."""
        fn = self.function
        self.invocations += 1
        started = time.monotonic()
        request: dict[str, Any] = {"requestId": request_id, "event": event, "remainingMs": int(fn.timeout * 1000)}
        if self.invocations == 1:
            request["initDurationMs"] = round(self.init_ms, 2)
        try:
            self._stdin.write(json.dumps(request).encode() + b"\n")
            self._stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self._read_line(started + fn.timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._forward_logs()
        with self._log_lock:
            self._end_of_logs()  # a line without its newline, or output from a child that outlives the worker
        for stream in (self._stdin, self._stdout, self._stderr):
            with contextlib.suppress(OSError):
                stream.close()


class FunctionPool:
    """The warm workers of one function and the limit on how many run at once.

    A cold start holds one of the runtime's init slots (`gate`) from the spawn to the worker's ready line.
    While an invocation queues for a slot, a worker of this function that goes idle is taken instead:
    in a storm the queue drains into the workers that are already warm rather than into more imports."""

    def __init__(
        self,
        fn: Function,
        region: str,
        max_concurrency: int,
        gate: InitGate | None = None,
        *,
        rewarm: bool = True,
        metric_line: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.function = fn
        self.metric_line = metric_line
        self.region = region
        self.max_concurrency = fn.reserved_concurrency or max_concurrency
        self.generation = 0
        self.gate = gate or InitGate()
        self.rewarm = rewarm
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._busy = 0  # invocations holding a worker or starting one
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # capacity freed or a worker went idle
        self._slot_cond = threading.Condition(lock)  # an init slot was granted to an invocation of this pool
        self._slot_waiters = 0
        self._starting = 0  # workers being started ahead of invocations (prewarm, re-warm)
        self._cold_starting = 0  # workers being started by invocations
        self._peaks: deque[tuple[float, int]] = deque()  # (minute, most invocations at once in that minute)
        self._rewarm_running = False
        self._rewarm_again = False
        self._stopped = False
        self.cold_starts = 0
        self.prewarmed = 0
        self.rewarmed = 0  # workers started in the background after workers were retired
        self.init_waits = 0  # cold starts that queued for an init slot
        self.reused_while_waiting = 0  # of those, invocations served by a worker that went idle meanwhile

    # ------------------------------------------------------------------ invocations

    def acquire(self) -> Worker:
        with self._cond:
            while True:
                worker = self._pop_idle()
                if worker is not None:
                    self._busy += 1
                    self._note_busy()
                    return worker
                if self._busy < self.max_concurrency:
                    self._busy += 1
                    self._note_busy()
                    break
                self._cond.wait()
            ticket = self.gate.request(self._slot_granted)
            if not ticket.granted:
                self.init_waits += 1
                self._slot_waiters += 1
                try:
                    while not ticket.granted and worker is None:
                        self._slot_cond.wait()
                        worker = self._pop_idle()
                finally:
                    self._slot_waiters -= 1
                if worker is not None:
                    self.reused_while_waiting += 1
            if worker is None:
                self._cold_starting += 1
            generation = self.generation
        if worker is not None:
            self.gate.withdraw(ticket)  # outside our lock: a slot granted meanwhile is passed to another pool
            return worker
        try:
            # The init limit starts here, at the spawn: the time queued for a slot is not the function's.
            worker = Worker(self.function, self.region, generation, self.metric_line)
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cold_starting -= 1
                self._cond.notify()
            raise
        finally:
            self.gate.release()
        with self._cond:
            self._cold_starting -= 1
            stopped = self._stopped
            if not stopped:
                self._all.add(worker)
                self.cold_starts += 1
        if stopped:  # shut down while it started: nobody would ever kill it
            worker.kill()
            raise InvocationError("the runtime is shut down")
        return worker

    def release(self, worker: Worker, healthy: bool) -> None:
        keep = healthy and worker.alive() and worker.generation == self.generation
        # A worker killed by a Timeout (or that died) leaves a hole where traffic was: fill it in the background.
        # One whose init failed does not: its successor would fail the same way.
        lost = not keep and worker.init_error is None and worker.generation == self.generation
        with self._cond:
            self._busy -= 1
            if keep:
                self._idle.append(worker)
                if self._slot_waiters:
                    self._slot_cond.notify()  # an invocation queued for an init slot takes this one instead
            else:
                self._all.discard(worker)
            self._cond.notify()
        if not keep:
            worker.kill()
        if lost:
            self._schedule_rewarm()

    def _pop_idle(self) -> Worker | None:
        """The most recently used idle worker of this generation (lock held); stale ones are dropped."""
        while self._idle:
            worker = self._idle.pop()
            if worker.alive() and worker.generation == self.generation:
                return worker
            self._all.discard(worker)
            worker.kill()
        return None

    def _slot_granted(self) -> None:
        with self._slot_cond:
            self._slot_cond.notify_all()  # few: at most max_concurrency invocations wait for a slot

    def _note_busy(self) -> None:
        """Record the concurrency just reached (lock held), per minute, for `recent_peak`."""
        now = time.monotonic()
        minute = now - now % 60
        if self._peaks and self._peaks[-1][0] == minute:
            if self._busy > self._peaks[-1][1]:
                self._peaks[-1] = (minute, self._busy)
        else:
            self._peaks.append((minute, self._busy))
        while self._peaks and self._peaks[0][0] < now - PEAK_WINDOW_S - 60:
            self._peaks.popleft()

    @property
    def recent_peak(self) -> int:
        """The most invocations this pool ran at once in the last PEAK_WINDOW_S (about): what re-warming restores."""
        horizon = time.monotonic() - PEAK_WINDOW_S - 60
        with self._cond:
            return max((peak for minute, peak in self._peaks if minute >= horizon), default=0)

    # ------------------------------------------------------------------ starting ahead of invocations

    def prewarm(self, count: int) -> int:
        """Start up to `count` idle workers ahead of any invocation (what Lambda's provisioned concurrency
        does), never more than the pool may run. Returns how many were started; a failed start is skipped:
        invocations will cold-start as usual. Each start waits its turn for an init slot, after invocations."""
        started = 0
        for _ in range(min(count, self.max_concurrency)):
            outcome = self._start_ahead(self.max_concurrency, rewarm=False)
            if outcome == "full":
                break
            started += outcome == "started"
        return started

    def _start_ahead(self, target: int, *, rewarm: bool) -> str:
        """Start one idle worker unless the pool has `target` of this generation: "started", "failed" or "full"."""
        with self._cond:
            present = sum(1 for w in self._all if w.generation == self.generation) + self._starting + self._cold_starting
            if self._stopped or present >= min(target, self.max_concurrency):
                return "full"
            self._starting += 1
            generation = self.generation
        worker: Worker | None = None
        try:
            if not self.gate.acquire(urgent=False, cancelled=lambda: self._stopped or self.generation != generation):
                return "full"  # stopped or recycled while queued: the caller looks again
            try:
                worker = Worker(self.function, self.region, generation, self.metric_line)
            except InvocationError as exc:
                log.warning("%s: a worker started ahead of traffic did not start: %s", self.function.logical_id, exc)
            finally:
                self.gate.release()
        finally:
            with self._cond:
                self._starting -= 1
                ready = worker is not None and worker.init_error is None and worker.generation == self.generation and not self._stopped
                if ready:
                    assert worker is not None
                    self._all.add(worker)
                    self._idle.append(worker)
                    if rewarm:
                        self.rewarmed += 1
                    else:
                        self.prewarmed += 1
                    self._cond.notify()
                    if self._slot_waiters:
                        self._slot_cond.notify()
        if ready:
            return "started"
        if worker is not None:
            worker.kill()
        return "failed"

    def _schedule_rewarm(self) -> None:
        if not self.rewarm:
            return
        with self._cond:
            if self._stopped or not self._peaks:
                return
            self._rewarm_again = True
            if self._rewarm_running:
                return  # the running pass looks again before it ends
            self._rewarm_running = True
        threading.Thread(target=self._rewarm, name=f"rewarm-{self.function.logical_id}", daemon=True).start()

    def _rewarm(self) -> None:
        started = 0
        while True:
            with self._cond:
                if not self._rewarm_again or self._stopped:
                    self._rewarm_running = False
                    break
                self._rewarm_again = False
            outcome = "full"
            while self.rewarm:  # turned off when the function leaves the template
                outcome = self._start_ahead(self.recent_peak, rewarm=True)
                if outcome != "started":
                    break
                started += 1
            if outcome == "failed":  # its successor would fail the same way: wait for the next retirement
                with self._cond:
                    self._rewarm_running = self._rewarm_again = False
                break
        if started:
            log.info("%s: re-warmed %d worker(s) to its recent peak concurrency", self.function.logical_id, started)

    # ------------------------------------------------------------------ retiring

    def recycle(self, fn: Function | None = None) -> None:
        """Retire every worker: idle ones now, busy ones when they finish. The next call cold-starts, unless
        the background re-warm (up to the recent peak concurrency) has a new worker ready by then."""
        with self._cond:
            self.generation += 1
            if fn is not None:
                self.function = fn
                self.max_concurrency = fn.reserved_concurrency or self.max_concurrency
            idle, self._idle = self._idle, []
            self._all.difference_update(idle)
        for worker in idle:
            worker.kill()
        self._schedule_rewarm()

    def stop(self) -> None:
        """Kill every worker, busy ones included (shutdown)."""
        with self._cond:
            self._stopped = True
        self.recycle()
        with self._cond:
            workers, self._all = list(self._all), set()
        for worker in workers:
            worker.kill()

    @property
    def warm(self) -> int:
        with self._cond:
            return len(self._idle)


@dataclass(frozen=True)
class Invocation:
    """What one invocation returned, for callers that want more than the result."""

    result: Any
    request_id: str
    duration_ms: float
    cold_start: bool


class Runtime:
    """Invokes the template's functions in their own worker processes.

    `init_concurrency` bounds how many workers of all functions initialise at once (default: the CPU count,
    at least 2); `rewarm` lets a pool whose workers were retired start them again in the background."""

    def __init__(
        self,
        functions: Mapping[str, Function],
        region: str,
        max_concurrency: int = 4,
        metrics: EmulatorMetrics | None = None,
        *,
        init_concurrency: int | None = None,
        rewarm: bool = True,
    ) -> None:
        self.region = region
        self.max_concurrency = max_concurrency
        self.metrics = metrics or EmulatorMetrics()
        self.init_gate = InitGate(init_concurrency)
        self.rewarm = rewarm
        self._pools = {fid: self._new_pool(fn) for fid, fn in functions.items()}
        self._lock = threading.Lock()
        self._closed = False

    def _new_pool(self, fn: Function) -> FunctionPool:
        return FunctionPool(fn, self.region, self.max_concurrency, self.init_gate, rewarm=self.rewarm, metric_line=self.metrics.observe_emf)

    def functions(self) -> dict[str, Function]:
        with self._lock:
            return {fid: pool.function for fid, pool in self._pools.items()}

    def pool(self, function_id: str) -> FunctionPool:
        with self._lock:
            pool = self._pools.get(function_id)
        if pool is None:
            raise UnknownFunction(f"no function {function_id!r} in the template")
        return pool

    def invoke(self, function_id: str, event: Any) -> Any:
        """Run the function synchronously; raise FunctionError or FunctionTimeout like a failed Lambda invoke."""
        return self.invoke_detailed(function_id, event).result

    def invoke_detailed(self, function_id: str, event: Any, request_id: str | None = None) -> Invocation:
        if self._closed:
            raise InvocationError("the runtime is shut down")
        pool = self.pool(function_id)
        started = time.monotonic()
        outcome = "error"
        try:
            invocation = self._invoke(pool, function_id, event, request_id or new_id())
            outcome = "ok"
            return invocation
        except FunctionTimeout:
            outcome = "timeout"
            raise
        finally:
            self.metrics.invocation(function_id, outcome, time.monotonic() - started)

    def _invoke(self, pool: FunctionPool, function_id: str, event: Any, request_id: str) -> Invocation:
        started = time.monotonic()
        cold_before = pool.cold_starts
        worker = pool.acquire()
        reply: dict[str, Any] | None = None
        try:
            reply = worker.invoke(event, request_id)
        finally:
            # A failed init discards the environment, as on Lambda: the next invocation imports again.
            pool.release(worker, healthy=reply is not None and worker.init_error is None)
        fn = worker.function
        if reply is None:
            log.warning("%s: Task timed out after %.2f seconds (request %s); the worker was stopped", function_id, fn.timeout, request_id)
            raise FunctionTimeout(function_id, fn.timeout)
        if not reply.get("ok"):
            raise FunctionError(
                function_id, str(reply.get("errorType")), str(reply.get("errorMessage")), list(reply.get("stackTrace") or [])
            )
        return Invocation(reply.get("result"), request_id, (time.monotonic() - started) * 1000, pool.cold_starts > cold_before)

    def prewarm(self, count: int) -> int:
        """Start `count` workers of every function ahead of traffic (`--warm`); returns how many started.
        The pools start theirs side by side: the init gate, not this loop, decides how many import at once."""
        pools = [pool for _, pool in self.pools()]
        started = [0] * len(pools)

        def warm(i: int) -> None:
            if not self._closed:
                started[i] = pools[i].prewarm(count)

        threads = [threading.Thread(target=warm, args=(i,), name="prewarm", daemon=True) for i in range(len(pools))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(started)

    def pools(self) -> list[tuple[str, FunctionPool]]:
        with self._lock:
            return list(self._pools.items())

    def recycle(self, function_ids: list[str] | None = None) -> None:
        with self._lock:
            pools = [p for fid, p in self._pools.items() if function_ids is None or fid in function_ids]
        for pool in pools:
            pool.recycle()

    def replace_functions(self, functions: Mapping[str, Function]) -> None:
        """After a template reload: new specs for every function, all workers retired."""
        with self._lock:
            old = self._pools
            self._pools = {}
            for fid, fn in functions.items():
                pool = old.pop(fid, None)
                if pool is None:
                    pool = self._new_pool(fn)
                else:
                    pool.recycle(fn)
                self._pools[fid] = pool
        for pool in old.values():
            pool.rewarm = False  # its function left the template: nobody would invoke (or stop) new workers
            pool.recycle()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.stop()
