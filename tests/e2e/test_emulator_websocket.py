"""The WebSocket API through a running emulator, over real sockets, as a client sees it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.emulator.settings import WebSocketLimits
from tests.emulator.harness import ALT_TEMPLATE, RunningEmulator, start_emulator
from tests.emulator.parity import shape_differences

pytestmark = pytest.mark.e2e

LoadEvent = Callable[[str], dict[str, Any]]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("ws")) as running:
        yield running


def ask(ws: ClientConnection, message: dict[str, Any], timeout: float = 20) -> Any:
    ws.send(json.dumps(message))
    return json.loads(ws.recv(timeout=timeout))


def connection_id(ws: ClientConnection) -> str:
    reply = ask(ws, {"action": "echo"})
    cid: str = reply["event"]["requestContext"]["connectionId"]
    return cid


def rejected_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        connect(url, **kwargs).close()
    return info.value.response.status_code


def closed_with(ws: ClientConnection, timeout: float = 20) -> tuple[int | None, str | None]:
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, None)


# ---------------------------------------------------------------------------- $connect and the authorizer


def test_authorizer_allow_puts_principal_and_context_on_every_route(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:alice") as ws:
        # The authorizer returned "level": 7; API Gateway passes context values on stringified.
        expected = {"principalId": "alice", "userId": "alice", "role": "player", "level": "7"}
        assert ask(ws, {"action": "whoami"}) == {"authorizer": expected}
        cid = connection_id(ws)
        assert emu.recorded("connect", cid)["requestContext"]["authorizer"] == expected
        assert emu.recorded("message", cid)["requestContext"]["authorizer"] == expected
    assert emu.recorded("disconnect", cid)["requestContext"]["authorizer"] == expected


def test_wildcard_allow(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=wildcard:bob") as ws:
        assert ask(ws, {"action": "whoami"})["authorizer"]["principalId"] == "bob"


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("deny", 403),  # explicit Deny
        ("elsewhere", 403),  # an Allow that does not cover $connect
        ("unauthorized", 401),  # the authorizer raised Exception("Unauthorized")
        ("nothing", 401),  # the authorizer returned "Unauthorized"
        ("crash", 500),  # the authorizer failed
        ("nested", 500),  # an Allow whose context holds an array (only strings, numbers, booleans are valid)
        ("allow:refused", 403),  # allowed, but the $connect handler answered 403
    ],
)
def test_rejected_upgrades_carry_the_status(emu: RunningEmulator, token: str, status: int) -> None:
    assert rejected_status(f"{emu.ws_url}?token={token}") == status


def test_missing_identity_source_is_401_without_calling_the_authorizer(emu: RunningEmulator) -> None:
    before = len(list(emu.event_dir.glob("authorizer-*.json")))
    assert rejected_status(emu.ws_url) == 401
    assert rejected_status(emu.ws_url + "?token=") == 401
    assert len(list(emu.event_dir.glob("authorizer-*.json"))) == before


def test_connect_and_authorizer_events_match_aws(emu: RunningEmulator, aws_event: LoadEvent) -> None:
    with connect(emu.ws_url + "?token=allow:parity", user_agent_header=None) as ws:
        cid = connection_id(ws)
    authorizer_event = emu.recorded("authorizer", cid)
    connect_event = emu.recorded("connect", cid)
    assert shape_differences(authorizer_event, aws_event("ws-authorizer-request")) == []
    assert (
        shape_differences(
            connect_event,
            aws_event("ws-connect"),
            allowed_extra={"queryStringParameters", "multiValueQueryStringParameters", "requestContext.authorizer"},
        )
        == []
    )
    assert connect_event["queryStringParameters"] == {"token": "allow:parity"}
    assert authorizer_event["methodArn"].endswith("/dev/$connect")
    assert connect_event["requestContext"]["connectionId"] == cid
    assert connect_event["headers"]["Sec-WebSocket-Key"]


def test_token_never_reaches_the_log(emu: RunningEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with connect(emu.ws_url + "?token=allow:gina;s3cr3t-t0ken") as ws:
        ask(ws, {"action": "whoami"})
    rejected_status(emu.ws_url + "?token=deny:s3cr3t-t0ken")
    server_side = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client"))
    assert '"WebSocket /ws?<redacted>"' in server_side  # the access lines are there...
    assert "s3cr3t-t0ken" not in server_side  # ...without the token


# ---------------------------------------------------------------------------- routes


def test_route_selection_and_message_event_parity(emu: RunningEmulator, aws_event: LoadEvent) -> None:
    with connect(emu.ws_url + "?token=allow:carol") as ws:
        reply = ask(ws, {"action": "echo", "message": "hi"})
    assert reply["route"] == "echo"
    event = reply["event"]
    assert (
        shape_differences(event, aws_event("ws-message"), allowed_extra={"requestContext.authorizer", "requestContext.identity.userAgent"})
        == []
    )
    assert "headers" not in event  # MESSAGE events carry no headers, as on AWS
    assert json.loads(event["body"]) == {"action": "echo", "message": "hi"}


def test_default_route_for_unknown_action_non_json_and_binary(emu: RunningEmulator, aws_event: LoadEvent) -> None:
    with connect(emu.ws_url + "?token=allow:dave") as ws:
        assert ask(ws, {"action": "no-such-route"})["route"] == "$default"
        ws.send("plain text")
        assert json.loads(ws.recv(timeout=20)) == {"route": "$default", "body": "plain text", "isBase64Encoded": False}
        ws.send(b"\x00\x01\x02")
        binary = json.loads(ws.recv(timeout=20))
        assert binary == {"route": "$default", "body": "AAEC", "isBase64Encoded": True}
        cid = connection_id(ws)
    default_event = emu.recorded("default", cid)
    assert shape_differences(default_event, aws_event("ws-message-default"), allowed_extra={"requestContext.authorizer"}) == []


def test_one_way_route_sends_nothing_back(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:erin") as ws:
        ws.send(json.dumps({"action": "oneway"}))
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.5)
        assert ask(ws, {"action": "whoami"})["authorizer"]["principalId"] == "erin"  # still open


def test_handler_error_sends_api_gateways_error_frame(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:frank") as ws:
        frame = ask(ws, {"action": "boom"})
        assert frame["message"] == "Internal server error"
        assert frame["connectionId"] and frame["requestId"]
        assert "handler bug" not in json.dumps(frame)


def test_no_route_and_no_default_gives_forbidden_frame(tmp_path_factory: pytest.TempPathFactory) -> None:
    with start_emulator(tmp_path_factory.mktemp("alt-ws"), template=ALT_TEMPLATE) as alt:
        assert rejected_status(alt.ws_url) == 401  # header identity source missing
        assert rejected_status(alt.ws_url, additional_headers={"Authorization": "Bearer bad"}) == 403
        with connect(alt.ws_url, additional_headers={"Authorization": "Bearer good"}) as ws:
            assert ask(ws, {"action": "known"}) == {"route": "known", "authorizer": {"principalId": "header-user"}}
            frame = ask(ws, {"action": "unknown"})
            assert frame["message"] == "Forbidden" and frame["connectionId"] and frame["requestId"]


def test_past_its_integration_timeout_a_route_gets_the_gateway_error_and_the_invocation_runs_on(emu: RunningEmulator) -> None:
    """The `hurried` route's integration has TimeoutInMillis 300: API Gateway tells the client "Endpoint request
    timed out" then, and the function, not cancelled, finishes; its late response is dropped."""
    with connect(emu.ws_url + "?token=allow:hurried") as ws:
        cid = connection_id(ws)
        started = time.monotonic()
        ws.send(json.dumps({"action": "hurried", "seconds": 0.8}))
        frame = json.loads(ws.recv(timeout=20))
        assert time.monotonic() - started < 0.75
        assert frame["message"] == "Endpoint request timed out" and frame["connectionId"] == cid and frame["requestId"]
        done = emu.recorded("hurried-done", cid)  # the invocation ran to its end
        assert done["requestContext"]["requestId"] == frame["requestId"]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)  # and its response never reaches the client


def test_slow_handler_does_not_stall_other_connections(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:slow") as slow, connect(emu.ws_url + "?token=allow:quick") as quick:
        slow.send(json.dumps({"action": "slow", "seconds": 4}))
        time.sleep(0.2)
        assert ask(quick, {"action": "whoami"})["authorizer"]["principalId"] == "quick"
        with pytest.raises(TimeoutError):
            slow.recv(timeout=0.05)  # the slow one is still running while the quick one was served
        assert json.loads(slow.recv(timeout=20)) == {"route": "slow", "done": True}


# ---------------------------------------------------------------------------- limits and $disconnect


def test_oversize_frame_closes_1009_and_disconnect_reports_it(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:big", max_size=None) as ws:
        cid = connection_id(ws)
        ws.send("x" * (32 * 1024 + 1))
        code, _ = closed_with(ws)
    assert code == 1009
    assert emu.recorded("disconnect", cid)["requestContext"]["disconnectStatusCode"] == 1009


def test_fragmented_message_under_128kb_passes_but_over_closes_1009(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:frag") as ws:
        chunk = "y" * (30 * 1024)
        ws.send(['{"action": "whoami", "pad": "', chunk, chunk, '"}'])  # 4 frames, 60 KB: over one frame's limit, under a message's
        assert json.loads(ws.recv(timeout=20))["authorizer"]["principalId"] == "frag"
        ws.send(["x" * (30 * 1024)] * 5)  # 150 KB in 30 KB frames: each frame fits, the message does not
        code, _ = closed_with(ws)
    assert code == 1009


def test_idle_timeout_closes_1001_and_disconnect_reports_it(tmp_path_factory: pytest.TempPathFactory, aws_event: LoadEvent) -> None:
    with start_emulator(tmp_path_factory.mktemp("idle"), limits=WebSocketLimits(idle_timeout_s=1.5)) as short:
        with connect(short.ws_url + "?token=allow:idle") as ws:
            cid = connection_id(ws)
            started = time.monotonic()
            code, reason = closed_with(ws)
        assert code == 1001 and reason == "Going away"
        assert time.monotonic() - started >= 1.0
        event = short.recorded("disconnect", cid)
        assert event["requestContext"]["disconnectStatusCode"] == 1001
        assert event["requestContext"]["disconnectReason"] == "Going away"
        assert shape_differences(event, aws_event("ws-disconnect"), allowed_extra={"requestContext.authorizer"}) == []


def test_max_duration_closes_even_an_active_connection(tmp_path_factory: pytest.TempPathFactory) -> None:
    with start_emulator(tmp_path_factory.mktemp("maxdur"), limits=WebSocketLimits(idle_timeout_s=60, max_duration_s=2.5)) as short:
        with connect(short.ws_url + "?token=allow:busy") as ws, pytest.raises(ConnectionClosed) as closed:
            started = time.monotonic()
            while time.monotonic() - started < 30:
                ask(ws, {"action": "whoami"})  # active all the time
                time.sleep(0.2)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert time.monotonic() - started >= 2.0


def test_client_close_code_and_reason_reach_disconnect(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:leaver") as ws:
        cid = connection_id(ws)
        ws.close(code=4000, reason="bye now")
    context = emu.recorded("disconnect", cid)["requestContext"]
    assert context["routeKey"] == "$disconnect" and context["eventType"] == "DISCONNECT"
    assert context["disconnectStatusCode"] == 4000
    assert context["disconnectReason"] == "bye now"
    assert context["connectionId"] == cid
