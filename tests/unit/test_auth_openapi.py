"""functions/auth/openapi.yaml documents every route of AuthFunction and every error code it can return."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

import quiz.auth.errors as auth_errors
import quiz.errors as shared_errors

REPO = Path(__file__).resolve().parents[2]
FRAGMENT = REPO / "functions" / "auth" / "openapi.yaml"


def fragment() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(FRAGMENT.read_text())
    return doc


def test_every_route_in_the_handler_is_documented() -> None:
    documented = {f"{method.upper()} {path}" for path, ops in fragment()["paths"].items() for method in ops}
    source = (REPO / "functions" / "auth" / "app.py").read_text()
    routes = {line.split('"')[1] for line in source.splitlines() if line.strip().startswith('"') and '": ' in line}
    assert routes and routes == documented


def test_every_error_code_is_in_the_documented_enum() -> None:
    enum = set(fragment()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    codes = {
        cls.code
        for module in (auth_errors, shared_errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, shared_errors.QuizError) and cls.__module__ == module.__name__
    }
    permission_codes = {"admin_only", "not_quiz_host", "forbidden", "unauthorized", "conflict"}  # raised by other services' routes
    assert codes - permission_codes <= enum


def test_fragment_is_a_valid_openapi_document() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate({"openapi": "3.0.3", "info": {"title": "auth", "version": "1"}, **fragment()})
