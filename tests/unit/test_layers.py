"""The layers point one way (loadtests -> web -> exchange -> matching_core): checked with `ast`.

The composition root (the `exchange` command, the process supervisor, the wiring of roles)
lives in web/, so the application package never imports the web layer or the load tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from exchange.config import PROJECT_ROOT

ABOVE = {
    "exchange": {"web", "loadtests"},
    "web": {"loadtests"},
}


def upward_imports(source: str, above: set[str]) -> list[str]:
    """Imports (anywhere in the module, also inside functions) of a package in `above`."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        problems.extend(f"line {node.lineno}: imports {name}" for name in names if name.split(".")[0] in above)
    return problems


MODULES = [(package, path) for package in ABOVE for path in sorted((PROJECT_ROOT / package).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), MODULES,
                         ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix() if isinstance(p, Path) else p)
def test_no_module_imports_a_layer_above_its_own(package: str, path: Path) -> None:
    assert upward_imports(path.read_text(encoding="utf-8"), ABOVE[package]) == []


def test_the_composition_root_is_in_web() -> None:
    assert (PROJECT_ROOT / "web" / "cli.py").exists() and (PROJECT_ROOT / "web" / "supervisor.py").exists()
    assert not (PROJECT_ROOT / "exchange" / "cli.py").exists()


@pytest.mark.parametrize("source", [
    "import web", "from web.app import create_app", "def main():\n    from web.feed import FeedServer\n",
    "import loadtests.locustfile", "import os, web.cli",
])
def test_checker_catches_an_upward_import(source: str) -> None:
    assert upward_imports(source, ABOVE["exchange"]), source


def test_checker_accepts_imports_of_the_same_layer_and_below() -> None:
    source = "import exchange\nfrom exchange.auctions import engine\nimport matching_core.english\nimport webbrowser\n"
    assert upward_imports(source, ABOVE["exchange"]) == []
