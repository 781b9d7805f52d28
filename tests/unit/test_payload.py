"""The limits every client payload meets (quiz.payload) and the parsing helpers that use them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from quiz import payload
from quiz.errors import BadRequest, PayloadOverLimit, ValidationFailed
from quiz.http import json_body, path_param, query_param
from quiz.quizzes.domain import normalise_quiz_id, parse_draft

HUGE_INT = "1" * 4400  # past Python's 4,300-digit int() limit


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (HUGE_INT, "integer_too_long"),
        ('{"points": -' + HUGE_INT + "}", "integer_too_long"),
        ("1" * (payload.MAX_INTEGER_DIGITS + 1), "integer_too_long"),
        (nested(990), "too_deep"),
        (nested(100_000), "too_deep"),
        ('{"a": ' * (payload.MAX_DEPTH + 1) + "1" + "}" * (payload.MAX_DEPTH + 1), "too_deep"),
        ('{"x": 1e999}', "number_too_long"),
        ('{"x": 0.' + "1" * 100 + "}", "number_too_long"),
        ('"' + "x" * payload.MAX_BODY_BYTES + '"', "too_large"),
        ('"' + "é" * (payload.MAX_BODY_BYTES // 2) + '"', "too_large"),  # characters under the limit, bytes over it
    ],
)
def test_json_past_a_limit_is_a_400_saying_which(raw: str, reason: str) -> None:
    with pytest.raises(PayloadOverLimit) as err:
        payload.loads(raw)
    assert (err.value.status, err.value.code, err.value.details["reason"]) == (400, "bad_request", reason)


@pytest.mark.parametrize("raw", ["NaN", '{"x": Infinity}', '{"x": -Infinity}', "{", "[1,]", ""])
def test_what_is_not_json_is_a_bad_request(raw: str) -> None:
    with pytest.raises(BadRequest) as err:
        payload.loads(raw)
    assert err.value.code == "bad_request" and not isinstance(err.value, PayloadOverLimit)


def test_json_within_the_limits_parses_as_usual() -> None:
    at_limit = nested(payload.MAX_DEPTH)
    assert payload.loads(at_limit) == json.loads(at_limit)
    assert payload.loads("9" * payload.MAX_INTEGER_DIGITS) == int("9" * payload.MAX_INTEGER_DIGITS)
    assert payload.loads('{"a": "[[[[' + "[" * 100 + '\\"]"}') == {"a": "[[[[" + "[" * 100 + '"]'}, "brackets in strings do not nest"
    assert payload.loads('{"x": 1.5, "y": -2e3}') == {"x": 1.5, "y": -2000.0}


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ('{"username": "ana\\u0000"}', "username", "nul_character"),
        ('{"title": "\\ud800"}', "title", "unpaired_surrogate"),
        ('{"title": "x\\udfff"}', "title", "unpaired_surrogate"),
        ('{"questions": [{"choices": ["a", "b\\u0000"]}]}', "questions[0].choices[1]", "nul_character"),
        ('{"ke\\u0000y": 1}', "ke\x00y", "nul_character"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_naming_the_field(raw: str, field: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        payload.json_object(raw)
    assert (err.value.status, err.value.code) == (400, "validation_failed")
    assert err.value.details == {"field": field, "reason": reason}


def test_paired_surrogates_and_other_text_pass() -> None:
    assert payload.json_object('{"a": "\\ud83d\\ude00 caf\\u00e9 \\u4e2d"}') == {"a": "😀 café 中"}


@pytest.mark.parametrize("value", ["", "x" * 129, "a\x00b", "\ud800", "tab\there", "new\nline", 7, None])
def test_request_keys_are_1_to_128_printable_characters(value: Any) -> None:
    with pytest.raises(BadRequest) as err:
        payload.request_key(value, "request_id")
    assert err.value.code == "bad_request" and err.value.details == {"field": "request_id"}


def test_a_printable_request_key_passes() -> None:
    for key in (str(uuid.uuid4()), "x" * 128, "a b é 中"):
        assert payload.request_key(key, "request_id") == key


@pytest.mark.parametrize(
    "value",
    [
        f"urn:uuid:{uuid.uuid4()}",
        "1-" + "a" * 31,
        "{" + str(uuid.uuid4()) + "}",
        uuid.uuid4().hex,
        "\u0661" * 32,  # Arabic-Indic digits
    ],
)
def test_uuids_python_accepts_but_postgresql_does_not_are_refused(value: str) -> None:
    uuid.UUID(value)  # the trap: Python takes it
    with pytest.raises(ValidationFailed) as err:
        payload.canonical_uuid(value, "user_id")
    assert err.value.details == {"field": "user_id"}


@pytest.mark.parametrize("value", ["", str(uuid.uuid4()) + "\x00", str(uuid.uuid4())[:-1] + "g", str(uuid.uuid4()) + "\n"])
def test_malformed_uuids_are_refused(value: str) -> None:
    with pytest.raises(ValidationFailed):
        payload.canonical_uuid(value, "user_id")


def test_a_canonical_uuid_is_lower_cased() -> None:
    raw = str(uuid.uuid4())
    assert payload.canonical_uuid(raw.upper(), "user_id") == raw


@pytest.mark.parametrize("raw", ["0", "101", "\u00b2", "\u0661", "ten", "-1", HUGE_INT, "0" * 30 + "5"])
def test_integer_params_are_bounded_before_int(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        payload.integer_param(raw, "limit", 1, 100)


def test_http_bodies_query_and_path_parameters_use_the_limits() -> None:
    with pytest.raises(PayloadOverLimit):
        json_body({"body": nested(990)})
    with pytest.raises(PayloadOverLimit):
        json_body({"body": base64.b64encode(HUGE_INT.encode()).decode(), "isBase64Encoded": True})
    with pytest.raises(ValidationFailed) as err:
        json_body({"body": '{"title": "\\u0000"}'})
    assert err.value.details["field"] == "title"
    with pytest.raises(ValidationFailed) as err:
        path_param({"pathParameters": {"user_id": "a\x00"}}, "user_id")
    assert err.value.details["field"] == "user_id"
    with pytest.raises(ValidationFailed):
        query_param({"queryStringParameters": {"limit": "\ud800"}}, "limit")
    assert json_body({"body": '{"a": [1, {"b": "c"}]}'}) == {"a": [1, {"b": "c"}]}


def test_quiz_text_and_ids_are_checked_in_the_domain_too() -> None:
    quiz = {"title": "T", "questions": [{"kind": "multiple_choice", "prompt": "p\x00", "choices": ["a", "b"], "correct_choice": 0}]}
    with pytest.raises(ValidationFailed) as err:
        parse_draft(quiz)
    assert err.value.details["field"] == "questions[0].prompt"
    assert normalise_quiz_id("k7q-2mx\x00\u0661") == "K7Q2MX"
