"""Frames checked against the AsyncAPI document (docs/asyncapi.yaml): the contract the tests hold the code to.

A frame the server sends is matched to its message by `type` (API Gateway's own error frames have none,
only `message`); a frame a client sends, by `action`. Each is validated against that message's payload
schema, with the document's `$ref`s resolved inside it.

    contract = FrameContract.load()
    contract.received_errors(frame)   # [] when the frame is a documented server frame
    contract.sent_errors(frame)       # [] when the frame is a documented client action
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

REPO = Path(__file__).resolve().parent.parent
DOCUMENT = REPO / "docs" / "asyncapi.yaml"
BASE = "urn:quiz:asyncapi"


@dataclass(frozen=True)
class FrameContract:
    document: dict[str, Any]
    server: dict[str, jsonschema.Draft7Validator]  # by frame type ("" for API Gateway's frames)
    client: dict[str, jsonschema.Draft7Validator]  # by action

    @classmethod
    @functools.cache
    def load(cls, path: Path = DOCUMENT) -> FrameContract:
        document = yaml.safe_load(path.read_text())
        registry: Registry[Any] = Registry().with_resource(BASE, Resource.from_contents(document, default_specification=DRAFT7))
        server: dict[str, jsonschema.Draft7Validator] = {}
        client: dict[str, jsonschema.Draft7Validator] = {}
        schemas = document["components"]["schemas"]
        for message in document["components"]["messages"].values():
            ref = message["payload"]["$ref"]
            schema = schemas[ref.rsplit("/", 1)[-1]]
            validator = jsonschema.Draft7Validator({"$ref": BASE + ref}, registry=registry, format_checker=jsonschema.FormatChecker())
            properties = schema.get("properties", {})
            if "type" in properties:
                server[properties["type"]["const"]] = validator
            elif "action" in properties:
                client[properties["action"]["const"]] = validator
            else:
                server[""] = validator
        return cls(document, server, client)

    def received_errors(self, frame: Any) -> list[str]:
        if not isinstance(frame, dict):
            return [f"not a JSON object: {frame!r}"]
        kind = frame.get("type", "" if "message" in frame else None)
        validator = self.server.get(kind) if isinstance(kind, str) else None
        if validator is None:
            return [f"a server frame of undocumented type {kind!r}: {_short(frame)}"]
        return [f"{kind or 'gateway'} frame {_short(frame)}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(frame)]

    def sent_errors(self, frame: Any) -> list[str]:
        if not isinstance(frame, dict):
            return [f"not a JSON object: {frame!r}"]
        validator = self.client.get(frame.get("action"))  # type: ignore[arg-type]
        if validator is None:
            return [f"a client frame with an undocumented action {frame.get('action')!r}: {_short(frame)}"]
        return [f"{frame['action']} frame {_short(frame)}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(frame)]


def _short(frame: Any, limit: int = 300) -> str:
    text = json.dumps(frame, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
