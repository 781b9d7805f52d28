"""Event builders against the AWS samples in tests/events/, key by key; response mapping; routing; policies."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from local.emulator import events
from local.emulator.http_api import HttpRouter, MalformedResponse, map_v1_response, map_v2_response
from local.emulator.template import HttpRoute
from local.emulator.websocket import InvalidAuthorizerContext, authorizer_context, identity_present, policy_allows, route_response_body
from tests.emulator.parity import shape_differences

LoadEvent = Callable[[str], dict[str, Any]]

API = events.ApiIdentity("abcdefghij", "dev", "127.0.0.1:8000")
CONN = events.WsConnection("BFHPhfCWIAMCKlQ=", 1731324924553, "127.0.0.1", "Mozilla/5.0")
# The $connect samples come from clients whose handshake had no User-Agent, so identity has sourceIp only.
NO_UA = events.WsConnection("BFHPhfCWIAMCKlQ=", 1731324924553, "127.0.0.1", None)


def observed(
    method: str = "GET", path: str = "/", query: str = "", body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> events.Observed:
    return events.Observed(
        method=method,
        raw_path=path,
        raw_query=query,
        headers=headers or [("host", "127.0.0.1:8000"), ("user-agent", "curl/7.58.0"), ("accept", "*/*")],
        source_ip="127.0.0.1",
        host_header="127.0.0.1:8000",
        server_port=8000,
        body=body,
    )


def test_http_v2_event_has_the_samples_keys_and_types(aws_event: LoadEvent) -> None:
    event = events.http_v2_event(observed(), API, "$default", {})
    assert shape_differences(event, aws_event("http-api-v2")) == []
    assert event["requestContext"]["http"]["method"] == "GET"


def test_http_v2_event_optional_members_when_the_request_has_them() -> None:
    event = events.http_v2_event(
        observed(
            "POST",
            "/q/7",
            "a=1&a=2&b=",
            b'{"x":1}',
            [("content-type", "application/json"), ("cookie", "s=1; t=2"), ("x-h", "1"), ("x-h", "2")],
        ),
        API,
        "POST /q/{id}",
        {"id": "7"},
    )
    assert event["cookies"] == ["s=1", "t=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-h"] == "1,2"
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"id": "7"}
    assert event["body"] == '{"x":1}' and event["isBase64Encoded"] is False


def test_binary_body_is_base64() -> None:
    raw = bytes(range(256))
    event = events.http_v2_event(observed("POST", "/", "", raw, [("content-type", "application/octet-stream")]), API, "$default", {})
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_http_v1_event_matches_the_rest_sample_except_http_api_differences(aws_event: LoadEvent) -> None:
    event = events.http_v1_event(
        observed("POST", "/hello/world", "name=me", b"{}", [("content-type", "application/json")]),
        API,
        "/{proxy+}",
        {"proxy": "hello/world"},
    )
    differences = shape_differences(
        event,
        aws_event("rest-api-v1"),
        # What an HTTP API's payload 1.0 has that a REST API's does not, and the reverse (AWS docs).
        allowed_extra={
            "version",
            "isBase64Encoded",
            "stageVariables",
            "requestContext.extendedRequestId",
            "requestContext.path",
            "requestContext.protocol",
            "requestContext.identity.principalOrgId",
        }
        # An HTTP API without IAM or Cognito auth sends these identity members as null, not strings.
        | {f"requestContext.identity.{k}" for k in event["requestContext"]["identity"] if k not in ("sourceIp", "userAgent")},
        allowed_missing={"requestContext.authorizer", "requestContext.identity.apiKey", "requestContext.identity.apiKeyId"},
    )
    assert differences == []
    assert event["multiValueQueryStringParameters"] == {"name": ["me"]}
    assert event["headers"]["Content-Type"] == "application/json"


def test_ws_authorizer_event_matches_sample(aws_event: LoadEvent) -> None:
    event = events.ws_authorizer_event(observed(query="token=t"), API, NO_UA, "arn:aws:execute-api:us-east-1:1:abc/dev/$connect")
    assert shape_differences(event, aws_event("ws-authorizer-request")) == []
    assert event["queryStringParameters"] == {"token": "t"}


def test_ws_connect_event_matches_sample(aws_event: LoadEvent) -> None:
    assert shape_differences(events.ws_connect_event(observed(), API, NO_UA, None), aws_event("ws-connect")) == []


def test_ws_message_events_match_samples(aws_event: LoadEvent) -> None:
    plain = events.WsConnection("c", 1, "127.0.0.1", None)
    assert shape_differences(events.ws_message_event(plain, API, "chat", '{"action":"chat"}', None), aws_event("ws-message")) == []
    assert shape_differences(events.ws_message_event(CONN, API, "$default", "x", None), aws_event("ws-message-default")) == []
    binary = events.ws_message_event(CONN, API, "$default", b"\x00\x01", None)
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x00\x01"


def test_ws_disconnect_event_matches_sample(aws_event: LoadEvent) -> None:
    event = events.ws_disconnect_event(CONN, API, 1001, "Going away", None)
    assert shape_differences(event, aws_event("ws-disconnect")) == []
    assert list(event["requestContext"]) == list(aws_event("ws-disconnect")["requestContext"])


def test_authorizer_context_rides_on_every_ws_event() -> None:
    auth = {"principalId": "u1", "role": "player"}
    assert events.ws_connect_event(observed(), API, CONN, auth)["requestContext"]["authorizer"] == auth
    assert events.ws_message_event(CONN, API, "x", "{}", auth)["requestContext"]["authorizer"] == auth
    assert events.ws_disconnect_event(CONN, API, 1000, "", auth)["requestContext"]["authorizer"] == auth


def test_ids_look_like_api_gateway_ids_and_are_url_safe() -> None:
    ids = {events.new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 16 and i.endswith("=") and "/" not in i and "+" not in i for i in ids)


# ---------------------------------------------------------------------------- routing


def route(path: str, method: str = "GET") -> HttpRoute:
    return HttpRoute("Fn" + path, "api", method, path, "2.0", "E")


def test_route_priority_exact_then_variables_then_greedy_then_default() -> None:
    router = HttpRouter([route("$default"), route("/{proxy+}", "ANY"), route("/a/{b}"), route("/a/exact"), route("/a/{b}", "ANY")])
    assert router.find("GET", "/a/exact") == (route("/a/exact"), {})
    assert router.find("GET", "/a/x") == (route("/a/{b}"), {"b": "x"})
    assert router.find("POST", "/a/x") == (route("/a/{b}", "ANY"), {"b": "x"})
    assert router.find("GET", "/deep/er/path") == (route("/{proxy+}", "ANY"), {"proxy": "deep/er/path"})
    assert router.find("GET", "/") == (route("$default"), {})


def test_no_route_without_default() -> None:
    assert HttpRouter([route("/a")]).find("GET", "/b") is None
    assert HttpRouter([route("/a")]).find("POST", "/a") is None


# ---------------------------------------------------------------------------- responses


def test_v2_inference_when_no_status_code() -> None:
    response = map_v2_response({"a": 1})
    assert response.status_code == 200 and json.loads(response.body) == {"a": 1}
    assert response.headers["content-type"] == "application/json"
    assert json.loads(map_v2_response("text").body) == "text"


def test_v2_cookies_and_base64() -> None:
    response = map_v2_response(
        {"statusCode": 201, "cookies": ["a=1", "b=2"], "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True}
    )
    assert response.status_code == 201 and response.body == b"\x00\xff"
    assert [v for k, v in response.raw_headers if k == b"set-cookie"] == [b"a=1", b"b=2"]


def test_v1_needs_status_code_and_merges_multi_value_headers() -> None:
    with pytest.raises(MalformedResponse):
        map_v1_response({"body": "x"})
    response = map_v1_response(
        {"statusCode": 200, "headers": {"x-a": "1"}, "multiValueHeaders": {"x-a": ["1", "2"], "x-b": ["3"]}, "body": ""}
    )
    assert [v for k, v in response.raw_headers if k == b"x-a"] == [b"1", b"2"]


def test_route_response_body() -> None:
    assert route_response_body({"statusCode": 200, "body": "hi"}) == "hi"
    assert route_response_body({"statusCode": 200}) is None
    assert route_response_body(None) is None
    assert route_response_body({"a": 1}) == '{"a": 1}'


# ---------------------------------------------------------------------------- authorizer policy

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/dev/$connect"


def policy(effect: str, resource: str | list[str], action: str = "execute-api:Invoke") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": resource}]}


def test_policy_evaluation() -> None:
    assert policy_allows(policy("Allow", ARN), ARN)
    assert policy_allows(policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc/*"), ARN)
    assert policy_allows(policy("Allow", [ARN], "execute-api:*"), ARN)
    assert not policy_allows(policy("Deny", ARN), ARN)
    assert not policy_allows(policy("Allow", ARN.replace("$connect", "other")), ARN)
    assert not policy_allows(policy("Allow", ARN, "s3:GetObject"), ARN)
    both = {"Statement": [policy("Allow", "*")["Statement"][0], policy("Deny", ARN)["Statement"][0]]}
    assert not policy_allows(both, ARN)  # an explicit Deny wins


def test_identity_sources() -> None:
    with_both = observed(query="token=abc", headers=[("authorization", "Bearer x")])
    assert identity_present("route.request.querystring.token", with_both)
    assert identity_present("route.request.header.Authorization", with_both)
    assert not identity_present("route.request.querystring.token", observed(query="token="))
    assert not identity_present("route.request.header.Authorization", observed())


def test_authorizer_context_values_are_stringified_and_objects_refused() -> None:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
    ok = {"principalId": "u", "context": {"s": "x", "n": 7, "f": 1.5, "b": True, "none": None}}
    assert authorizer_context(ok) == {"principalId": "u", "s": "x", "n": "7", "f": "1.5", "b": "true", "none": None}
    for bad in ({"roles": ["host"]}, {"user": {"id": 1}}):
        with pytest.raises(InvalidAuthorizerContext):
            authorizer_context({"principalId": "u", "context": bad})
