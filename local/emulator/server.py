"""Serving the emulator with uvicorn: WebSocket limits at the protocol level, and logs that never carry tokens."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
import socket
from typing import Any

import uvicorn
import uvicorn.logging

from local.emulator.app import Emulator, create_app
from local.emulator.settings import EmulatorSettings, raise_open_file_limit

_QUERY = re.compile(r"\?[^\s\"']*")
_DENIAL_NOISE = "ASGI callable returned without completing handshake."


class LogHygiene(logging.Filter):
    """Redacts query strings in log lines (WebSocket tokens travel in the query) and drops one uvicorn false alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _DENIAL_NOISE:
            # uvicorn's sans-I/O protocol says this after a completed denial response (a rejected
            # $connect), which the emulator sends on purpose; it is not an application error.
            return False
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = _QUERY.sub("?<redacted>", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_QUERY.sub("?<redacted>", a) if isinstance(a, str) else a for a in args)
        return True


class EmulatorFormatter(uvicorn.logging.DefaultFormatter):
    """uvicorn's format (a coloured level, then the logger's name) without copying every record first: a busy
    node logs at least three lines per invocation (START, END, REPORT), and the copy was a third of their cost."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if "color_message" in record.__dict__:  # uvicorn's own coloured variant of a message: its formatter knows
            return super().formatMessage(record)
        levelname = record.levelname
        separator = " " * (8 - len(levelname))
        if self.use_colors:
            levelname = self.color_level_name(levelname, record.levelno)
        record.levelprefix = levelname + ":" + separator  # an extra attribute, as logging's extra= adds
        return logging.Formatter.formatMessage(self, record)


def logging_config() -> dict[str, Any]:
    """uvicorn's logging plus the emulator's: its own lines and each function's output, named by logger."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["emulator"] = {
        "()": f"{__name__}.EmulatorFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
        "use_colors": None,
    }
    config["handlers"]["emulator"] = {"formatter": "emulator", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    config["loggers"]["emulator"] = {"handlers": ["emulator"], "level": "INFO", "propagate": False}
    return config


def install_log_redaction() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, LogHygiene) for f in logger.filters):
            logger.addFilter(LogHygiene())


def uvicorn_config(settings: EmulatorSettings, *, log_config: Any = None) -> uvicorn.Config:
    """`log_config=None` leaves logging alone (tests); `serve` passes `logging_config()`."""
    limits = settings.limits
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # The websockets sans-I/O protocol enforces both of API Gateway's limits while parsing, closing
        # with 1009: (maximum message size, maximum frame size). uvicorn passes the value through.
        ws="websockets-sansio",
        ws_max_size=(limits.message_bytes, limits.frame_bytes),  # type: ignore[arg-type]
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=log_config,
        timeout_graceful_shutdown=5,
    )
    install_log_redaction()  # after uvicorn configured its loggers
    return config


class EmulatorServer(uvicorn.Server):
    """uvicorn, plus API Gateway's way of going away: on shutdown (Ctrl+C, SIGTERM) this node stops accepting,
    closes its own sockets with 1001 "Going away" and lets their $disconnect run, before uvicorn closes
    whatever is left with its own 1012 and the application shuts down (and leaves ZooKeeper)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        emulator = getattr(getattr(self.config.app, "state", None), "emulator", None)
        if isinstance(emulator, Emulator):
            # The Kafka mappings first: their consumers leave the group now, so another node takes the
            # partitions within a second, instead of this node's pushes failing against its own closed
            # port until the function timeout while it still owns them.
            await asyncio.to_thread(emulator.stop_kafka)
        for server in self.servers:
            server.close()
        if isinstance(emulator, Emulator):
            await emulator.gateway.drain(self.config.timeout_graceful_shutdown or 5)
        await super().shutdown(sockets)


def serve(settings: EmulatorSettings) -> None:
    config = uvicorn_config(settings, log_config=logging_config())
    raise_open_file_limit()  # after logging is configured, so a warning is seen; before the first socket
    server = EmulatorServer(config)
    # After a clean shutdown on Ctrl+C, uvicorn re-raises the signal; that is a normal exit, not a crash.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
