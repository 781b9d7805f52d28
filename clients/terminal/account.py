"""The signed-in user between commands: the saved session file and the tokens it refreshes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from clients.quiz_client import ApiError, QuizClient
from clients.terminal.errors import PROG, CliError

REFRESH_MARGIN_S = 30  # refresh a little before the server would refuse the token

T = TypeVar("T")


def default_profile_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vocab-quiz" / "session.json"


@dataclass
class Profile:
    """The signed-in user's tokens, kept between commands (mode 0600: the refresh token is a credential)."""

    path: Path
    url: str | None = None
    user: dict[str, Any] = field(default_factory=dict)
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: float = 0.0

    @classmethod
    def load(cls, path: Path) -> Profile:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {path} ({exc}) — delete it and log in again with `{PROG} login`") from exc
        return cls(
            path,
            url=data.get("url"),
            user=data.get("user") or {},
            access_token=data.get("access_token"),
            refresh_token=data.get("refresh_token"),
            access_expires_at=float(data.get("access_expires_at") or 0),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "url": self.url,
            "user": self.user,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_expires_at": self.access_expires_at,
        }
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)

    def store_tokens(self, body: dict[str, Any], now: float) -> None:
        tokens = body.get("tokens", body)
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.access_expires_at = now + float(tokens.get("expires_in_ms", 0)) / 1000
        if isinstance(body.get("user"), dict):
            self.user = body["user"]


class Account:
    """A QuizClient bound to a saved profile: refreshes the access token when it expires and saves it."""

    def __init__(self, profile: Profile, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.profile = profile
        self.url = url
        self.clock = clock
        self.client = QuizClient(url)
        self.client.access_token, self.client.refresh_token = profile.access_token, profile.refresh_token
        self.client.user = profile.user

    @property
    def user_id(self) -> str:
        return str(self.profile.user.get("id") or self.profile.user.get("user_id") or "")

    @property
    def display_name(self) -> str:
        return str(self.profile.user.get("display_name") or self.profile.user.get("username") or "you")

    def remember(self, body: dict[str, Any]) -> None:
        self.profile.url = self.url
        self.profile.store_tokens(body, self.clock())
        self.client.access_token, self.client.refresh_token = self.profile.access_token, self.profile.refresh_token
        self.profile.save()

    def require_login(self) -> None:
        if not self.profile.refresh_token:
            raise CliError(f"not logged in — run `{PROG} login` (or `{PROG} signup` for a new account)")

    def refresh(self) -> None:
        self.require_login()
        self.client.access_token = None
        body = self.client.call("POST", "/auth/refresh", json={"refresh_token": self.profile.refresh_token})
        self.remember(body)

    def fresh_token(self) -> str:
        self.require_login()
        if not self.profile.access_token or self.clock() > self.profile.access_expires_at - REFRESH_MARGIN_S:
            self.refresh()
        assert self.profile.access_token
        return self.profile.access_token

    def call(self, action: Callable[[QuizClient], T]) -> T:
        """Run an HTTP call as the user; on an expired token, refresh once and retry."""
        self.fresh_token()
        try:
            return action(self.client)
        except ApiError as exc:
            if exc.status != 401 or exc.code != "token_expired":
                raise
        self.refresh()
        return action(self.client)

    def open_socket(self) -> ClientConnection:
        """The WebSocket, with the token in the query string (as a browser sends it)."""
        for attempt in (1, 2):
            try:
                # entered as a context manager (websockets 17 warns otherwise); run_live closes it
                return connect(f"{self.client.ws_url}?token={self.fresh_token()}", open_timeout=10, max_size=2**20).__enter__()
            except InvalidStatus as exc:
                if exc.response.status_code == 401 and attempt == 1:
                    self.refresh()
                    continue
                raise CliError(f"the server refused the WebSocket ({exc.response.status_code}) — log in again with `{PROG} login`") from exc
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------- rendering
