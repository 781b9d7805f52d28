"""The AsyncAPI document of the WebSocket API (docs/asyncapi.yaml) is valid AsyncAPI 3.0, covers every
action of the template and every frame type the code sends, and agrees with the examples of the prose
page (docs/websocket.md). The end-to-end tests hold the running code to it (tests/e2e/conftest.py)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.asyncapi_check import DOCUMENT, FrameContract
from tests.unit.docs_support import application, frame_types_in_code, websocket_doc

META_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "asyncapi-3.0.0.json.gz"
KAFKA_ONLY = {"score", "board_tick"}  # records on the scores topic, never WebSocket frames (the prose says so)


@pytest.fixture(scope="module")
def contract() -> FrameContract:
    return FrameContract.load()


def test_the_document_is_valid_asyncapi_3() -> None:
    meta = json.loads(gzip.decompress(META_SCHEMA.read_bytes()))
    document = yaml.safe_load(DOCUMENT.read_text())
    assert document["asyncapi"] == "3.0.0"
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in jsonschema.Draft7Validator(meta).iter_errors(document)]
    assert not errors, errors


def test_the_meta_schema_catches_a_broken_document() -> None:
    meta = json.loads(gzip.decompress(META_SCHEMA.read_bytes()))
    document = yaml.safe_load(DOCUMENT.read_text())
    document["operations"]["join"]["action"] = "publish"  # AsyncAPI 2's verb
    assert list(jsonschema.Draft7Validator(meta).iter_errors(document))


def test_every_action_of_the_template_is_a_client_message(contract: FrameContract) -> None:
    ws = application().websocket
    assert ws is not None
    actions = {key for key in ws.routes if not key.startswith("$")}
    assert actions == set(contract.client), (actions, set(contract.client))


def test_every_frame_type_the_code_sends_is_a_server_message(contract: FrameContract) -> None:
    types = set(frame_types_in_code()) - KAFKA_ONLY
    assert types and types <= set(contract.server), sorted(types - set(contract.server))
    assert "" in contract.server, "API Gateway's own error frame is documented"


def test_every_operation_names_a_message_of_its_channel(contract: FrameContract) -> None:
    doc = contract.document
    channel_messages = {f"#/channels/quiz/messages/{name}" for name in doc["channels"]["quiz"]["messages"]}
    for name, operation in doc["operations"].items():
        refs = [m["$ref"] for m in operation["messages"]] + [m["$ref"] for m in operation.get("reply", {}).get("messages", [])]
        assert refs and set(refs) <= channel_messages, name
    received = {
        r["$ref"].rsplit("/", 1)[-1] for op in doc["operations"].values() for r in op["messages"] + op.get("reply", {}).get("messages", [])
    }
    assert received == set(doc["channels"]["quiz"]["messages"]), "every message is sent or received by some operation"


def prose_examples() -> list[dict[str, Any]]:
    """Every one-line JSON object in the ```json blocks of docs/websocket.md."""
    found = []
    for block in re.findall(r"```json\n(.*?)```", websocket_doc(), re.S):
        text = block.strip()
        try:
            found.append(json.loads(text))
            continue
        except json.JSONDecodeError:
            pass
        for line in text.splitlines():  # several one-line frames in one block
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def test_the_prose_page_examples_follow_the_document(contract: FrameContract) -> None:
    examples = [e for e in prose_examples() if e.get("type") not in KAFKA_ONLY and "closed_at" not in e]  # the Kafka close marker
    assert len(examples) >= 15
    errors = [err for e in examples for err in (contract.received_errors(e) if "type" in e else contract.sent_errors(e))]
    assert not errors, "\n".join(errors)


def test_the_documents_own_examples_validate(contract: FrameContract) -> None:
    checked = 0
    for message in contract.document["components"]["messages"].values():
        for example in message.get("examples", []):
            payload = example["payload"]
            errors = contract.received_errors(payload) if "type" in payload else contract.sent_errors(payload)
            assert not errors, errors
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "pong", "connectionId": "x", "extra": 1},  # a field the document does not list
        {"type": "your_rank", "quiz_id": "K7Q2MX", "rank": 0, "score": 1, "player_count": 1, "gap_to_next": 0, "next_display_name": None},
        {"type": "leaderboard", "quiz_id": "K7Q2MX", "seq": 1, "player_count": 1, "top": [], "server_time": "yesterday"},
        # the names issue 12 retired: each must fail, so that none can come back unnoticed
        {"type": "leaderboard", "quiz_id": "K7Q2MX", "seq": 1, "participants": 1, "top": [], "server_time": "2025-05-01T10:00:00+00:00"},
        {"type": "your_rank", "quiz_id": "K7Q2MX", "rank": 1, "score": 1, "participants": 1, "gap_to_next": 0, "next_display_name": None},
        {
            "type": "answer_result",
            "quiz_id": "K7Q2MX",
            "question_id": 1,
            "correct": True,
            "points": 5,
            "total": 5,
            "elapsed_ms": 1,
            "streak": 1,
        },
        {
            "type": "question_closed",
            "quiz_id": "K7Q2MX",
            "question_id": 1,
            "your_result": {"answered": True, "correct": True, "points": 5, "total": 5},
        },
        {"type": "error", "code": "not_found", "message": "no quiz"},  # the old flat error frame
        {"type": "error", "error": {"code": "service_unavailable", "message": "later"}, "retry_after_ms": 2000},
        {"type": "no_such_frame"},
        {"message": "Something else", "connectionId": "a", "requestId": "b"},
    ],
)
def test_frames_off_the_document_are_caught(contract: FrameContract, frame: dict[str, Any]) -> None:
    assert contract.received_errors(frame)


def test_client_frames_off_the_document_are_caught(contract: FrameContract) -> None:
    assert contract.sent_errors({"action": "answer", "quiz_id": "K7Q2MX", "question_id": 0, "answer": 1})
    assert contract.sent_errors({"action": "dance"})
    assert not contract.sent_errors({"action": "ping"})
