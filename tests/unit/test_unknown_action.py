"""The `$default` route tells a client what was wrong with *its* frame and which actions there are."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ws_connect_app", REPO / "functions" / "ws_connect" / "app.py")
assert _spec and _spec.loader
ws_connect = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ws_connect)


def reply(body: str, *, binary: bool = False) -> dict[str, Any]:
    event = {"requestContext": {"routeKey": "$default", "connectionId": "c1"}, "body": body, "isBase64Encoded": binary}
    frame: dict[str, Any] = json.loads(ws_connect._default(event)["body"])
    assert frame["type"] == "error" and set(frame) == {"type", "error"}
    error: dict[str, Any] = frame["error"]
    assert error["code"] == "unknown_action" and error["details"] == {"actions": ["join", "answer", "ping"]}
    return error


def test_a_frame_with_an_unknown_action_is_told_which_one_and_what_there_is() -> None:
    assert reply('{"action": "dance"}')["message"] == "there is no action 'dance': send one of 'join', 'answer', 'ping'"


def test_each_kind_of_mistake_gets_its_own_message() -> None:
    assert "has no 'action'" in reply('{"quiz_id": "K7Q2MX"}')["message"]
    assert "not JSON" in reply("hello")["message"]
    assert "not an object" in reply("[1, 2]")["message"]
    assert "not an object" in reply("null")["message"]
    assert "binary frames" in reply("AAEC", binary=True)["message"]
