"""Swagger UI at /docs (assets vendored from the pinned `swagger-ui-bundle` package), /openapi.json, /docs/websocket.

The OpenAPI document is generated from the template's HTTP routes (paths, methods, path parameters).
A function can describe its routes further in an `openapi.yaml` beside its handler: an OpenAPI 3
fragment (`paths`, `components`, `tags`) deep-merged into the generated document, the fragment winning.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import markdown
import swagger_ui_bundle
import yaml

from local.emulator.template import Application

log = logging.getLogger("emulator.docs")

SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
_ANY = ("get", "post", "put", "patch", "delete")


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def openapi_document(app: Application, server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.http_routes:
        if route.path == "$default":
            continue
        fn = app.functions[route.function_id]
        path = re.sub(r"\{([^}+]+)\+\}", r"{\1}", route.path)
        names = re.findall(r"\{([^}]+)\}", path)
        methods = _ANY if route.method == "ANY" else (route.method.lower(),)
        for method in methods:
            paths.setdefault(path, {})[method] = {
                "operationId": f"{route.function_id}_{route.event_name}" + (f"_{method}" if route.method == "ANY" else ""),
                "summary": route.event_name,
                "description": fn.description,
                "tags": [route.function_id],
                "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names],
                "responses": {"default": {"description": "The function's response"}},
                "x-amazon-apigateway-integration": {"type": "aws_proxy", "payloadFormatVersion": route.payload_format, "uri": fn.arn},
            }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": api_title(app),
            "version": "local",
            "description": "The HTTP API as the template declares it (served by the local emulator). The WebSocket API: "
            "[/asyncapi.yaml](/asyncapi.yaml) (AsyncAPI 3.0) and [/docs/websocket](/docs/websocket).\n\n"
            "Unknown fields: a field a request body does not define is ignored and changes nothing; every defined "
            "field is validated. Responses may gain fields over time: ignore the ones you do not know.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
    }
    seen: set[Path] = set()
    for fn in app.functions.values():
        extra = fn.code_dir / "openapi.yaml"
        if extra in seen or not extra.is_file():
            continue
        seen.add(extra)
        try:
            fragment = yaml.safe_load(extra.read_text()) or {}
        except yaml.YAMLError as exc:
            log.warning("%s is not valid YAML, skipped: %s", extra, exc)
            continue
        if isinstance(fragment, dict):
            deep_merge(doc, {k: v for k, v in fragment.items() if k in ("paths", "components")})
            merge_tags(doc, fragment.get("tags") or [])
    return doc


def merge_tags(doc: dict[str, Any], tags: list[Any]) -> None:
    """Tags are a list: each fragment adds its own (by name, a later description winning) rather than
    replacing the others', so every function's tag keeps its description."""
    merged = {t["name"]: t for t in doc.get("tags", []) if isinstance(t, dict) and "name" in t}
    for tag in tags:
        if isinstance(tag, dict) and "name" in tag:
            merged[tag["name"]] = {**merged.get(tag["name"], {}), **tag}
    if merged:
        doc["tags"] = sorted(merged.values(), key=lambda t: str(t["name"]))


def api_title(app: Application) -> str:
    """The API's name: the first sentence of the template's Description, up to its colon ("Real-time
    vocabulary quiz"), never the checkout's folder name."""
    description = " ".join(str(app.description or "").split())
    name = re.split(r"[:.]", description, maxsplit=1)[0].strip()
    return f"{name[:1].upper()}{name[1:]} API" if name else "HTTP API"


def asyncapi_document(docs_dir: Path, ws_url: str) -> dict[str, Any] | None:
    """docs/asyncapi.yaml with its `local` server pointing at this node's WebSocket URL."""
    source = docs_dir / "asyncapi.yaml"
    if not source.is_file():
        return None
    document = yaml.safe_load(source.read_text())
    local = (document.get("servers") or {}).get("local")
    if isinstance(local, dict):
        scheme, _, rest = ws_url.partition("://")
        host, _, path = rest.partition("/")
        local.update({"host": host, "pathname": "/" + path, "protocol": scheme})
    return dict(document)


def as_yaml(document: Mapping[str, Any]) -> str:
    return str(yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True))


def swagger_page() -> str:
    return """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Real-time vocabulary quiz API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <style>.topnote{font-family:sans-serif;padding:8px 16px;background:#f4f4f4}</style>
</head>
<body>
  <div class="topnote">HTTP API below. WebSocket protocol: <a href="/docs/websocket">/docs/websocket</a> ·
    OpenAPI document: <a href="/openapi.json">/openapi.json</a> ·
    AsyncAPI document (WebSocket): <a href="/asyncapi.yaml">/asyncapi.yaml</a> (<a href="/asyncapi.json">JSON</a>)</div>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
"""


SWAGGER_INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
};
"""


def websocket_page(app: Application, docs_dir: Path, ws_url: str, management_url: str) -> str:
    source = docs_dir / "websocket.md"
    text = source.read_text() if source.is_file() else "# WebSocket protocol\n\n(docs/websocket.md is missing)\n"
    ws = app.websocket
    if ws is not None:
        rows = [
            f"| `{r.route_key}` | {r.function_id or '(none)'} | {'yes' if r.two_way else 'no'} | "
            f"{r.authorizer.name + ' (' + ', '.join(r.authorizer.identity_sources) + ')' if r.authorizer else ''} |"
            for r in sorted(ws.routes.values(), key=lambda r: r.route_key)
        ]
        text += (
            f"\n\n## This template's routes\n\nURL: `{ws_url}` · stage `{ws.stage}` · route selection `{ws.route_selection_expression}` · "
            f"management API: `{management_url}/@connections/{{connectionId}}`\n\n"
            "| route key | function | route response | authorizer |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
        )
    body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>WebSocket protocol</title>'
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}code{background:#f4f4f4}"
        "pre{background:#f4f4f4;padding:8px;overflow:auto}</style></head>"
        f'<body><p><a href="/docs">HTTP API (Swagger UI)</a></p>{body}<!-- {html.escape(str(source))} --></body></html>'
    )
