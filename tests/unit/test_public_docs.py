"""The public interfaces are written down, and the documents keep up with the code (DESIGN: Public interfaces).

- every HTTP route of template.yaml is in the OpenAPI document the emulator serves at /openapi.json, with a
  summary of its own, a 2xx and a 4xx response, and every documented error response names its code;
- every error code the code can send is in that document or in docs/websocket.md;
- every frame `type` the server emits has a JSON example in docs/websocket.md;
- the document is valid OpenAPI, and the per-function fragments agree on the components they share.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openapi_spec_validator
import pytest
import yaml

from tests.unit.docs_support import REPO, application, document, frame_types_in_code, python_sources, websocket_doc

METHODS = ("get", "post", "put", "patch", "delete")
CODE_IN_TEXT = re.compile(r"`([a-z][a-z0-9_]*)`")


def template_operations() -> list[tuple[str, str, str]]:
    """(path as OpenAPI spells it, method, template event name) for every HTTP route of the template."""
    out = []
    for route in application().http_routes:
        if route.path == "$default":
            continue
        path = re.sub(r"\{([^}+]+)\+\}", r"{\1}", route.path)
        for method in METHODS if route.method == "ANY" else (route.method.lower(),):
            out.append((path, method, route.event_name))
    return out


def error_codes_in_code() -> dict[str, str]:
    """code -> where: the `code` of every error class, and every literal `"code": "..."` in a response or frame."""
    found: dict[str, str] = {}
    for path in python_sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        where = str(path.relative_to(REPO))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else getattr(stmt, "target", None)
                    value = getattr(stmt, "value", None)
                    if (
                        isinstance(target, ast.Name)
                        and target.id == "code"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        found.setdefault(value.value, f"{where}: class {node.name}")
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "code"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        found.setdefault(value.value, f"{where}:{node.lineno}")
    return found


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def code_enums(node: Any) -> Iterator[str]:
    """The values of every `code` property's enum (the error schemas)."""
    if isinstance(node, dict):
        code = (node.get("properties") or {}).get("code")
        if isinstance(code, dict):
            yield from code.get("enum", [])
        for value in node.values():
            yield from code_enums(value)
    elif isinstance(node, list):
        for value in node:
            yield from code_enums(value)


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        _, *parts = node["$ref"].split("/")
        target: Any = doc
        for part in parts:
            target = target[part]
        node = target
    return node


def documented_codes() -> set[str]:
    text = "\n".join([*strings(document()), websocket_doc()])
    return set(CODE_IN_TEXT.findall(text)) | set(code_enums(document()))


# ---------------------------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize(("path", "method", "event"), template_operations(), ids=lambda v: str(v))
def test_every_template_route_is_documented(path: str, method: str, event: str) -> None:
    op = document()["paths"].get(path, {}).get(method)
    assert op is not None, f"{method.upper()} {path} is missing from the OpenAPI document"
    assert op.get("summary") and op["summary"] != event, (
        f"{method.upper()} {path} has only the generated summary {event!r}: document it in the function's openapi.yaml"
    )
    statuses = set(op["responses"])
    assert any(re.fullmatch(r"2\d\d", s) for s in statuses), f"{method.upper()} {path} documents no 2xx response"
    assert any(re.fullmatch(r"4\d\d", s) for s in statuses), f"{method.upper()} {path} documents no 4xx response"


def test_every_documented_error_response_names_its_codes() -> None:
    doc = document()
    unnamed = []
    for path, method, _ in template_operations():
        for status, response in doc["paths"][path][method]["responses"].items():
            if re.fullmatch(r"[45]\d\d", status) and not CODE_IN_TEXT.search(resolve(doc, response).get("description", "")):
                unnamed.append(f"{method.upper()} {path} {status}")
    assert not unnamed, f"error responses whose description names no `code`: {unnamed}"


def test_the_document_has_no_route_the_template_lacks() -> None:
    """A fragment that still documents a removed or renamed route would show clients a phantom endpoint."""
    served = {(path, method) for path, method, _ in template_operations()}
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops if method in METHODS}
    assert documented - served == set()


def test_the_document_is_valid_openapi() -> None:
    openapi_spec_validator.validate(document())


def test_fragments_agree_on_shared_components() -> None:
    """The emulator deep-merges fragments, the later winning: two different definitions under one name
    would silently replace each other."""
    seen: dict[tuple[str, str], tuple[Path, Any]] = {}
    clashes = []
    for extra in sorted({fn.code_dir / "openapi.yaml" for fn in application().functions.values()}):
        if not extra.is_file():
            continue
        fragment = yaml.safe_load(extra.read_text()) or {}
        for section, entries in (fragment.get("components") or {}).items():
            for name, definition in entries.items():
                first = seen.setdefault((section, name), (extra, definition))
                if first[1] != definition:
                    clashes.append(f"components/{section}/{name}: {first[0].relative_to(REPO)} vs {extra.relative_to(REPO)}")
    assert not clashes


# ------------------------------------------------------------------------------------- error codes


def test_error_codes_are_found_in_the_code() -> None:
    """Guards the scan below: if it found nothing, the next test would pass vacuously."""
    codes = error_codes_in_code()
    assert {"bad_request", "internal_error", "quiz_locked", "idempotency_key_required", "unknown_action"} <= set(codes)


def test_every_error_code_is_documented() -> None:
    documented = documented_codes()
    missing = {code: where for code, where in error_codes_in_code().items() if code not in documented}
    assert not missing, f"error codes in the code but in neither the OpenAPI document nor docs/websocket.md: {missing}"


def test_every_error_code_in_an_error_schema_exists() -> None:
    """The other direction: an enum must not promise a code that nothing sends any more."""
    stale = set(code_enums(document())) - set(error_codes_in_code())
    assert not stale, f"documented error codes that no code defines: {sorted(stale)}"


# ------------------------------------------------------------------------------------------ frames


def test_frame_types_are_found_in_the_code() -> None:
    assert {"joined", "answer_result", "error", "pong", "leaderboard", "your_rank"} <= set(frame_types_in_code())


def test_every_frame_type_has_an_example_in_the_websocket_doc() -> None:
    text = websocket_doc()
    missing = {name: where for name, where in frame_types_in_code().items() if not re.search(rf'"type"\s*:\s*"{re.escape(name)}"', text)}
    assert not missing, f"frame types with no JSON example in docs/websocket.md: {missing}"


def test_every_websocket_action_is_documented() -> None:
    """The routes of the WebSocket API in the template, as a client must send them."""
    ws = application().websocket
    assert ws is not None
    actions = {key for key in ws.routes if not key.startswith("$")}
    text = websocket_doc()
    missing = {a for a in actions if not re.search(rf'"action"\s*:\s*"{re.escape(a)}"', text)}
    assert actions and not missing, f"WebSocket actions with no example frame in docs/websocket.md: {missing}"


def test_the_document_is_titled_after_the_api_not_the_checkout() -> None:
    title = document()["info"]["title"]
    assert title == "Real-time vocabulary quiz API", title
    assert REPO.name not in title or REPO.name in "Real-time vocabulary quiz API"


def test_every_tag_an_operation_uses_is_described() -> None:
    doc = document()
    described = {t["name"]: t.get("description", "") for t in doc.get("tags", [])}
    used = {tag for item in doc["paths"].values() for op in item.values() if isinstance(op, dict) for tag in op.get("tags", [])}
    assert used and all(described.get(tag, "").strip() for tag in used), {tag: bool(described.get(tag)) for tag in used}
