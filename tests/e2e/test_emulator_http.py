"""The HTTP API through a running emulator, as an HTTP client sees it."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.emulator.harness import ALT_TEMPLATE, RunningEmulator, start_emulator
from tests.emulator.parity import shape_differences

pytestmark = pytest.mark.e2e

PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF])


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("http")) as running:
        yield running


@pytest.fixture(scope="module")
def client(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=20) as c:
        yield c


def test_payload_2_event_with_path_query_headers_cookies(client: httpx.Client, aws_event: Callable[[str], dict[str, Any]]) -> None:
    response = client.get("/echo/bob%20smith?x=1&x=2&y=", headers={"cookie": "a=1; b=2", "x-custom": "v"})
    assert response.status_code == 200
    assert response.headers["x-route"] == "GET /echo/{name}"
    event = response.json()["event"]
    assert (
        shape_differences(
            event,
            aws_event("http-api-v2"),
            allowed_extra={"cookies", "queryStringParameters", "pathParameters"},
        )
        == []
    )
    assert event["routeKey"] == "GET /echo/{name}"
    assert event["rawPath"] == "/echo/bob%20smith"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["pathParameters"] == {"name": "bob smith"}
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-custom"] == "v"
    assert event["requestContext"]["stage"] == "dev"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["requestId"]
    assert isinstance(event["requestContext"]["timeEpoch"], int)


def test_stage_prefix_is_accepted_like_the_aws_url(client: httpx.Client) -> None:
    response = client.get("/dev/echo/x")
    assert response.status_code == 200
    assert response.json()["event"]["pathParameters"] == {"name": "x"}


def test_exact_route_beats_path_variable(client: httpx.Client) -> None:
    assert client.get("/echo/exact").json()["event"]["routeKey"] == "GET /echo/exact"


def test_body_text_and_binary(client: httpx.Client) -> None:
    text = client.post("/echo/t", json={"a": 1}).json()["event"]
    assert text["body"] == '{"a":1}' and text["isBase64Encoded"] is False
    raw = bytes(range(256))
    binary = client.post("/echo/b", content=raw, headers={"content-type": "application/octet-stream"}).json()["event"]
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == raw


def test_payload_1_event_and_multi_value_headers(client: httpx.Client) -> None:
    response = client.put("/v1/a/b?name=me&name=you", content=b"hi", headers={"content-type": "text/plain"})
    assert response.status_code == 201
    assert response.headers.get_list("x-multi") == ["a", "b"]
    assert response.headers["x-single"] == "one"
    event = response.json()["event"]
    assert event["version"] == "1.0"
    assert event["resource"] == "/v1/{proxy+}"
    assert event["httpMethod"] == "PUT"
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["queryStringParameters"] == {"name": "you"}
    assert event["multiValueQueryStringParameters"] == {"name": ["me", "you"]}
    assert event["body"] == "hi"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


def test_format_2_inference(client: httpx.Client) -> None:
    response = client.get("/shapes/infer")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "world", "n": 1}
    assert client.get("/shapes/infer-string").json() == "just text"


def test_base64_response_and_cookies_and_status(client: httpx.Client) -> None:
    binary = client.get("/shapes/binary")
    assert binary.content == PNG and binary.headers["content-type"] == "image/png"
    cookies = client.get("/shapes/cookies")
    assert cookies.headers.get_list("set-cookie") == ["session=abc; HttpOnly", "theme=dark"]
    teapot = client.get("/shapes/status")
    assert teapot.status_code == 418 and teapot.text == "teapot"


def test_unknown_route_is_404(client: httpx.Client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
    assert client.delete("/echo/x").status_code == 404  # no DELETE route on that path


def test_handler_error_is_500_without_trace(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = client.get("/shapes/raise")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert "secret detail" not in response.text and "Traceback" not in response.text
    # ...but the developer sees it in the emulator's log.
    assert "secret detail" in caplog.text


def test_malformed_response_is_500(client: httpx.Client) -> None:
    response = client.get("/shapes/malformed")
    assert response.status_code == 500 and response.json() == {"message": "Internal Server Error"}


def test_lambda_context_and_template_environment(client: httpx.Client, emu: RunningEmulator) -> None:
    body = client.get("/echo/ctx").json()
    context = body["context"]
    assert context["function_name"] == "HttpFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:HttpFunction"
    assert context["log_group_name"] == "/aws/lambda/HttpFunction"
    assert 9000 < context["remaining_ms"] <= 10000
    assert len(context["aws_request_id"]) > 8
    assert body["env"] == {
        "GREETING": "hello",
        "REGION_GREETING": "hello-us-east-1",
        "ECHO_ARN": "arn:aws:lambda:us-east-1:123456789012:function:HttpFunction",
        "MANAGEMENT_ENDPOINT": f"{emu.url}/dev",  # the template's execute-api URL, pointed at the emulator
        "STAGE": "dev",
        "AWS_LAMBDA_FUNCTION_NAME": "HttpFunction",
        "AWS_REGION": "us-east-1",
    }
    assert body["layer"] == "emu-shared-layer"


def test_docs_and_openapi(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]["/echo/{name}"]) == {"get", "post"}
    assert doc["paths"]["/echo/{name}"]["get"]["parameters"][0] == {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert set(doc["paths"]["/v1/{proxy}"]) == {"get", "post", "put", "patch", "delete"}
    # merged from functions/http/openapi.yaml
    assert doc["paths"]["/echo/{name}"]["get"]["summary"] == "Echo the request as the function received it"
    assert "Echo" in doc["components"]["schemas"]
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no CDN in the head
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    ws_page = client.get("/docs/websocket")
    assert ws_page.status_code == 200 and "$connect" in ws_page.text and "whoami" in ws_page.text


def test_default_route_catches_everything(tmp_path_factory: pytest.TempPathFactory) -> None:
    with start_emulator(tmp_path_factory.mktemp("alt"), template=ALT_TEMPLATE) as alt, httpx.Client(base_url=alt.url, timeout=20) as c:
        response = c.post("/any/path/at/all")
        assert response.status_code == 200
        assert response.json() == {"routeKey": "$default", "rawPath": "/any/path/at/all"}
