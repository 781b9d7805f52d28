"""One Lambda execution environment: a process that imports one function's handler once and serves invocations.

Run by the runtime as `python -I worker.py` with the function's environment. It speaks JSON lines on
private pipes: the runtime writes {"requestId", "event", "remainingMs", "initDurationMs" (first only)} to stdin, the worker answers
{"ok": true, "result": ...} or {"ok": false, "errorType", "errorMessage", "stackTrace"} on the file
descriptor that was stdout at start. The handler's own stdout and stderr go to the emulator's log, as
CloudWatch Logs would get them, with Lambda's START / END / REPORT lines around each invocation.

This file imports nothing from the emulator: its sys.path is the function's, like /var/task and /opt/python.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

LAMBDA_FILE_DESCRIPTORS = 1024  # Lambda's quota per execution environment


class LambdaContext:
    """The context object Lambda's Python runtime passes as the handler's second argument."""

    def __init__(self, request_id: str, deadline_monotonic: float) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["EMULATOR_FUNCTION_ARN"]
        # A string, as in Lambda's own runtime (it reads AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline_monotonic

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def _lambda_file_limit() -> None:
    # Lambda gives a function 1,024 file descriptors. The emulator raises its own limit for its sockets and
    # its workers inherit it: put Lambda's back, so a function that leaks descriptors fails here as it would there.
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft > LAMBDA_FILE_DESCRIPTORS:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LAMBDA_FILE_DESCRIPTORS, hard))


def main() -> None:
    _lambda_file_limit()
    code_dir, *layer_dirs = sys.argv[1:]
    sys.path[:0] = [code_dir, *layer_dirs]
    if os.path.isdir(code_dir):
        os.chdir(code_dir)
    # The protocol owns the original stdout; print() in a handler goes to the log stream instead.
    protocol_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    protocol_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)

    handler_spec = os.environ["_HANDLER"]
    module_name, _, attr = handler_spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
        handler = getattr(module, attr)
    except BaseException as exc:  # an init error is reported to every invocation, as Lambda does
        failure = _error(exc)
        failure["errorType"] = "Runtime.ImportModuleError"
        failure["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        init_error: dict[str, Any] | None = failure
        handler = None
    else:
        init_error = None
    protocol_out.write(json.dumps({"ready": init_error is None, "error": init_error}) + "\n")
    init_reply = json.dumps(init_error) if init_error is not None else ""
    memory_size = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]

    for line in protocol_in:
        request = json.loads(line)
        request_id = request["requestId"]
        started = time.monotonic()
        deadline = started + request["remainingMs"] / 1000
        # Written (and flushed) before the handler runs, so its own output follows it in the log.
        sys.stderr.write(f"START RequestId: {request_id} Version: $LATEST\n")
        sys.stderr.flush()
        if init_error is not None:
            reply = init_reply
        else:
            try:
                result = handler(request["event"], LambdaContext(request_id, deadline))
                # Serialising once is also the check: a result that is not JSON is a handler error, as on Lambda.
                reply = json.dumps({"ok": True, "result": result})
            except BaseException as exc:
                failure = _error(exc)
                sys.stderr.write("".join(failure["stackTrace"]))
                reply = json.dumps(failure)
        elapsed_ms = (time.monotonic() - started) * 1000
        # As on Lambda, the first invocation of an environment reports its init phase (measured by the
        # runtime, from the spawn to the ready line, so the interpreter's own start-up is in it).
        init_ms = request.get("initDurationMs")
        init = f"\tInit Duration: {init_ms:.2f} ms" if isinstance(init_ms, int | float) else ""
        # END and REPORT in one write, and before the reply: the runtime logs them with this invocation.
        sys.stderr.write(
            f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tMemory Size: {memory_size} MB{init}\n"
        )
        sys.stderr.flush()
        protocol_out.write(reply + "\n")


if __name__ == "__main__":
    main()
