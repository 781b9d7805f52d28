"""Structured logs: every record of the layer's and the handlers' loggers (``quiz.*``) as one JSON object per
line on stderr, which Lambda sends to CloudWatch Logs and the emulator to its log.

Each line carries the level, the logger, the message, the function's name, the invocation's request id,
whether it is the container's cold start, and the trace id of the current span, so a line can be found from
a trace and the reverse. The level comes from ``LOG_LEVEL`` (template.yaml sets it; unset: WARNING, Python's
default). `quiz.observability.traced_handler` sets this up when a handler module is imported and sets
the invocation's fields around each call, so every handler logs this way without a line of its own.

Messages are what the code wrote: no event, header or body is ever logged (they carry passwords and
tokens), and nothing here adds one.

The ``quiz`` logger does not propagate to the root logger: on AWS the runtime's own root handler would
print every record a second time (Powertools does the same). Libraries (kafka-python, botocore) keep
logging through the root logger.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace

LOGGER = "quiz"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_LEVEL = "WARNING"


@dataclass(frozen=True)
class Invocation:
    function: str
    request_id: str | None
    cold_start: bool


_current: ContextVar[Invocation | None] = ContextVar("quiz_log_invocation", default=None)


def level_from_env(env: Mapping[str, str] = os.environ) -> int:
    """LOG_LEVEL by name (any case). An unknown name does not stop the function: the default applies and
    the first line says why."""
    name = (env.get("LOG_LEVEL") or DEFAULT_LEVEL).strip().upper()
    return logging.getLevelName(name if name in LEVELS else DEFAULT_LEVEL)  # type: ignore[no-any-return]


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class JsonLines(logging.Formatter):
    """One JSON object per record: level, logger, message, function, request id, cold start, trace id."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        invocation = _current.get()
        line["function"] = invocation.function if invocation else os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if invocation is not None:
            line["request_id"] = invocation.request_id
            line["cold_start"] = invocation.cold_start
        trace_id = _trace_id()
        if trace_id is not None:
            line["trace_id"] = trace_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


class _Lines(logging.Handler):
    """Writes each record as a line to `stream`, or to whatever ``sys.stderr`` is when the record is written
    (a test runner swaps it; a stream bound once could be closed by then)."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            out = self.stream or sys.stderr
            out.write(self.format(record) + "\n")
            out.flush()
        except Exception:  # logging must never fail the invocation; logging reports it its own way
            self.handleError(record)


_handler: _Lines | None = None


def configure(env: Mapping[str, str] = os.environ, *, stream: IO[str] | None = None) -> logging.Logger:
    """Send the ``quiz`` loggers' records to `stream` (default: stderr) as JSON lines at LOG_LEVEL.
    Idempotent: a later call only re-reads the level and the stream."""
    global _handler
    logger = logging.getLogger(LOGGER)
    if _handler is None:
        _handler = _Lines(stream)
        _handler.setFormatter(JsonLines())
        logger.addHandler(_handler)
        logger.propagate = False
    _handler.stream = stream
    logger.setLevel(level_from_env(env))
    wanted = (env.get("LOG_LEVEL") or DEFAULT_LEVEL).strip().upper()
    if wanted not in LEVELS:
        logger.warning("LOG_LEVEL=%r is not one of %s; logging at %s", env.get("LOG_LEVEL"), ", ".join(LEVELS), DEFAULT_LEVEL)
    return logger


def setup() -> None:
    """Configure from the environment unless something already did (every traced handler module calls it)."""
    if _handler is None:
        configure()


@contextmanager
def invocation(function: str, request_id: str | None, *, cold_start: bool) -> Iterator[None]:
    """The fields every line logged during this invocation carries."""
    token = _current.set(Invocation(function, request_id, cold_start))
    try:
        yield
    finally:
        _current.reset(token)
