"""The public documents and the code they describe, as the documentation tests read them (not a test
module, so importing it runs no tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from local.emulator.docs import openapi_document
from local.emulator.template import Application, load_application

REPO = Path(__file__).resolve().parents[2]
SOURCES = (REPO / "layers" / "shared" / "python" / "quiz", REPO / "functions")
WEBSOCKET_DOC = REPO / "docs" / "websocket.md"


@cache
def application() -> Application:
    return load_application(REPO / "template.yaml")


@cache
def document() -> dict[str, Any]:
    """Built the way GET /openapi.json builds it."""
    return openapi_document(application(), "http://127.0.0.1:8000")


def websocket_doc() -> str:
    return WEBSOCKET_DOC.read_text()


def python_sources() -> Iterator[Path]:
    for root in SOURCES:
        yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def frame_types_in_code() -> dict[str, str]:
    """type -> where, for every `"type": "<name>"` the layer and the functions write."""
    found: dict[str, str] = {}
    for path in python_sources():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for name in re.findall(r"""["']type["']\s*:\s*["']([a-z_]+)["']""", line):
                found.setdefault(name, f"{path.relative_to(REPO)}:{lineno}")
    return found
