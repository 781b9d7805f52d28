"""The layer's dependency direction, read from the source with `ast` (every import, also those inside
functions): functions → services → ports ← adapters, wired in one composition root (`quiz.bootstrap`).

- the pure modules (domain, rules, ports) import no client library and no adapter;
- services import no adapter and no client library: they take ports;
- no package reaches into another package's adapters, and only the composition root builds them;
- the subpackages (auth, quizzes, leaderboard, realtime) import each other without a cycle, and the
  top-level modules (errors, config, ports, ...) import none of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "shared" / "python"
SUBPACKAGES = ("auth", "quizzes", "leaderboard", "realtime")
ROOT = "quiz.bootstrap"

# Client libraries and exporters: infrastructure that only adapters (and the root, and observability) touch.
INFRASTRUCTURE = (
    "psycopg",
    "psycopg_pool",
    "redis",
    "kafka",
    "kazoo",
    "boto3",
    "botocore",
    "urllib3",
    "argon2",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
)

PURE = [
    "quiz.events",
    "quiz.ports",
    "quiz.auth.domain",
    "quiz.auth.ports",
    "quiz.auth.permissions",
    "quiz.quizzes.domain",
    "quiz.quizzes.errors",
    "quiz.quizzes.judging",
    "quiz.quizzes.matching",
    "quiz.quizzes.outbox",
    "quiz.quizzes.ports",
    "quiz.quizzes.report",
    "quiz.quizzes.report_csv",
    "quiz.quizzes.scoring",
    "quiz.leaderboard.domain",
    "quiz.leaderboard.ports",
    "quiz.realtime.ports",
]
SERVICES = [
    "quiz.auth.services",
    "quiz.quizzes.service",
    "quiz.quizzes.reporting",
    "quiz.leaderboard.service",
    "quiz.realtime.broadcaster",
    "quiz.realtime.fanout",
    "quiz.realtime.session",
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LAYER).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module the file imports (``from a import b`` yields ``a`` and ``a.b``: b may be a module)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


LAYER_IMPORTS = {module_name(p): set(imports_of(p)) for p in sorted((LAYER / "quiz").rglob("*.py"))}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def infrastructure(imported: set[str]) -> list[str]:
    return sorted(i for i in imported if any(within(i, lib) for lib in INFRASTRUCTURE))


def adapters(imported: set[str]) -> list[str]:
    return sorted(i for i in imported if ".adapters" in i and i.startswith("quiz."))


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else None


def test_every_listed_module_exists() -> None:
    assert not [m for m in [*PURE, *SERVICES] if m not in LAYER_IMPORTS]


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_client_library_and_no_adapter(module: str) -> None:
    imported = LAYER_IMPORTS[module]
    assert infrastructure(imported) == []
    assert adapters(imported) == []
    assert ROOT not in imported


@pytest.mark.parametrize("module", SERVICES)
def test_services_take_ports_not_adapters(module: str) -> None:
    imported = LAYER_IMPORTS[module]
    assert adapters(imported) == []
    assert infrastructure(imported) == []
    assert ROOT not in imported


def test_no_package_reaches_into_another_packages_adapters() -> None:
    trespass = {
        module: [i for i in adapters(imported) if package_of(i) != package_of(module)]
        for module, imported in LAYER_IMPORTS.items()
        if module != ROOT
    }
    assert {m: found for m, found in trespass.items() if found} == {}


def test_only_the_handlers_and_the_auth_entry_points_use_the_composition_root() -> None:
    # quiz.auth's `authenticate`/`ws_principal` are the edge every handler calls; they ask the root for the
    # container's authenticator inside the function, so importing quiz.auth builds nothing.
    assert sorted(m for m, imported in LAYER_IMPORTS.items() if ROOT in imported) == ["quiz.auth"]
    source = ast.parse((LAYER / "quiz" / "auth" / "__init__.py").read_text())
    top_level = {n.module for n in source.body if isinstance(n, ast.ImportFrom)}
    assert ROOT not in top_level


def test_handlers_build_nothing_themselves() -> None:
    for path in sorted((REPO / "functions").rglob("*.py")):
        imported = set(imports_of(path))
        assert adapters(imported) == [], path
        assert infrastructure(imported) == [], path


def test_top_level_modules_depend_on_no_subpackage() -> None:
    kernel = {m: imported for m, imported in LAYER_IMPORTS.items() if package_of(m) is None and m not in (ROOT, "quiz")}
    assert {m: sorted(i for i in imported if package_of(i)) for m, imported in kernel.items() if any(package_of(i) for i in imported)} == {}


def test_subpackages_import_each_other_without_a_cycle() -> None:
    edges: dict[str, set[str]] = {p: set() for p in SUBPACKAGES}
    for module, imported in LAYER_IMPORTS.items():
        source = package_of(module)
        for i in imported:
            target = package_of(i)
            if source and target and target != source:
                edges[source].add(target)

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in edges[start])

    assert [p for p in SUBPACKAGES if reaches(p, p)] == [], edges
    # The direction this layer is built in: the sessions use both services; neither service knows the other.
    assert "realtime" not in edges["quizzes"] | edges["leaderboard"]
    assert "quizzes" not in edges["leaderboard"] and "leaderboard" not in edges["quizzes"]
