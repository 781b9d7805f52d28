"""Key-by-key comparison of an emulator event with an AWS-published sample (ids, times and hosts aside)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Maps whose keys depend on the request (which headers, which parameters), not on the event's shape.
REQUEST_SPECIFIC = frozenset(
    {
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "authorizer",
    }
)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def shape_differences(
    actual: Any, sample: Any, *, allowed_extra: Iterable[str] = (), allowed_missing: Iterable[str] = (), path: str = ""
) -> list[str]:
    """Differences in keys and value types; `allowed_*` are dotted paths ("requestContext.authorizer")."""
    extra_ok, missing_ok = set(allowed_extra), set(allowed_missing)
    if isinstance(sample, dict) and isinstance(actual, dict):
        out = []
        for key in sample:
            where = f"{path}.{key}" if path else key
            if key not in actual:
                if where not in missing_ok:
                    out.append(f"missing {where}")
                continue
            if key in REQUEST_SPECIFIC:
                if _kind(actual[key]) != _kind(sample[key]) and where not in extra_ok:
                    out.append(f"{where}: {_kind(actual[key])} where AWS has {_kind(sample[key])}")
                continue
            out += shape_differences(actual[key], sample[key], allowed_extra=extra_ok, allowed_missing=missing_ok, path=where)
        for key in actual:
            where = f"{path}.{key}" if path else key
            if key not in sample and where not in extra_ok:
                out.append(f"extra {where}")
        return out
    if _kind(actual) != _kind(sample) and path not in extra_ok:
        return [f"{path}: {_kind(actual)} where AWS has {_kind(sample)}"]
    return []
