"""No file under tests/ imports from a test module (issue 11).

Shared fixtures live in `conftest.py` files and shared helpers in support modules (tests/support.py,
tests/integration/quiz_support.py, ...). Importing from a `test_*` module instead couples two test files,
hides where a fixture comes from, and makes pytest collect any test function the importer picks up twice.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_test_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in `source` that names a `test_*` module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            # `from tests.unit import test_public_docs` names the module among the imported names
            modules = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for module in modules:
            if any(part.startswith("test_") for part in module.split(".")):
                yield node.lineno, module
                break


def python_files() -> Iterator[Path]:
    yield from sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_check_finds_every_form_of_import_from_a_test_module() -> None:
    source = "\n".join(
        [
            "from tests.integration.test_quiz_service import QUIZ",
            "import tests.unit.test_public_docs",
            "from tests.unit import test_public_docs",
            "from .test_leaderboard import play",
            "from tests.integration.quiz_support import QUIZ",
            "from tests.conftest import read_records",
            "import pytest",
        ]
    )
    assert [line for line, _ in imported_test_modules(source)] == [1, 2, 3, 4]


def test_no_file_under_tests_imports_from_a_test_module() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{line} imports {module}"
        for path in python_files()
        for line, module in imported_test_modules(path.read_text())
    ]
    assert len(list(python_files())) > 50, "the walk found the test files"
    assert found == [], "move shared fixtures to a conftest.py and helpers to a support module:\n" + "\n".join(found)
