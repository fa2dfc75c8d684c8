"""docs/architecture.md names modules and functions in backticks (`path.py` and
`path.py::Name.attr`); each must exist, so the map is not a story about code that moved."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "architecture.md"
NAMED = re.compile(r"`((?:billing_core|portal|admin|tests|migrations)/[\w/]*?\.py)(?:::([\w.]+))?`")


def _defines(path: Path, dotted: str) -> bool:
    """Whether the module at `path` defines `dotted` (a function, a class, or Class.member)."""
    body = ast.parse(path.read_text()).body
    for part in dotted.split("."):
        found = next(
            (
                node
                for node in body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == part
            ),
            None,
        )
        if found is None:
            return False
        body = found.body
    return True


def test_every_module_and_function_the_map_names_exists():
    named = NAMED.findall(MAP.read_text())
    assert len(named) >= 30
    missing = [
        f"{path}::{name}" if name else path
        for path, name in named
        if not (ROOT / path).is_file() or (name and not _defines(ROOT / path, name))
    ]
    assert missing == []


def test_the_map_answers_where_the_named_rules_live():
    """In one hop: each rule has its own row of the rules table naming a module's function."""
    rows = [line for line in MAP.read_text().splitlines() if line.startswith("| ") and "::" in line]
    for rule in (
        "15th",
        "retro window",
        "authority limit",
        "lockbox",
        "tolerance decision",
        "bill bridge",
    ):
        assert any(rule in row.split("|")[1] for row in rows), rule
