"""One Lambda execution environment: a process that imports one function's handler once and serves invocations.

Run by the runtime as `python -I worker.py` with the function's environment. It speaks JSON lines on
private pipes: the runtime writes {"requestId", "event", "deadlineMs", ...} to stdin, the worker answers
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


def main() -> None:
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

    for line in protocol_in:
        request = json.loads(line)
        request_id = request["requestId"]
        deadline = time.monotonic() + request["remainingMs"] / 1000
        started = time.monotonic()
        print(f"START RequestId: {request_id} Version: $LATEST", file=sys.stderr, flush=True)
        if init_error is not None:
            reply: dict[str, Any] = init_error
        else:
            try:
                result = handler(request["event"], LambdaContext(request_id, deadline))
                reply = {"ok": True, "result": result}
                json.dumps(reply)  # a result that is not JSON is a handler error, as on Lambda
            except BaseException as exc:
                reply = _error(exc)
                sys.stderr.write("".join(reply["stackTrace"]))
        elapsed_ms = (time.monotonic() - started) * 1000
        print(f"END RequestId: {request_id}", file=sys.stderr, flush=True)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tMemory Size: {os.environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']} MB",
            file=sys.stderr,
            flush=True,
        )
        try:
            protocol_out.write(json.dumps(reply, default=str) + "\n")
        except (TypeError, ValueError) as exc:
            protocol_out.write(json.dumps(_error(exc)) + "\n")


if __name__ == "__main__":
    main()
