"""matching_core does no I/O and reads no clock: every module is checked with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import matching_core

PACKAGE = Path(matching_core.__file__).parent
ALLOWED_MODULES = {
    "__future__",
    "bisect",
    "collections",
    "dataclasses",
    "enum",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "msgspec",
    "typing",
    "matching_core",
}
FORBIDDEN_CALLS = {
    "open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint",
    "globals", "vars",
}  # fmt: skip


def purity_problems(source: str) -> list[str]:
    """Imports outside the allow-list, relative imports and built-ins that do I/O."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                problems.append(f"line {node.lineno}: relative import")
            names = [node.module or ""]
        for name in names:
            if name.split(".")[0] not in ALLOWED_MODULES:
                problems.append(f"line {node.lineno}: imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: calls {node.func.id}()")
        if isinstance(node, ast.Name) and node.id == "__builtins__":
            problems.append(f"line {node.lineno}: touches __builtins__")
    return problems


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_checked() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in MODULES}
    assert {"english.py", "dutch.py", "sealed.py", "listing.py", "reference/english.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_imports_nothing_that_does_io_or_reads_the_clock(path: Path) -> None:
    assert purity_problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import time as clock",
        "from datetime import datetime",
        "import socket, hashlib",
        "from asyncio import sleep",
        "import random",
        "from pathlib import Path",
        "import subprocess",
        "import threading",
        "import logging",
        "import sys",
        "import io",
        "import importlib",
        "from os.path import join",
        "from . import english",
        "def f():\n    import urllib.request\n",
        "open('x')",
        "print('x')",
        "def f(x):\n    return eval(x)\n",
        "__import__('os')",
        "x = __builtins__",
    ],
)
def test_checker_catches_a_violation(source: str) -> None:
    assert purity_problems(source), source


def test_checker_accepts_the_allowed_modules() -> None:
    source = "\n".join(f"import {name}" for name in sorted(ALLOWED_MODULES))
    source += "\nfrom matching_core.codes import reject\nfrom collections.abc import Iterable\n"
    assert purity_problems(source) == []
