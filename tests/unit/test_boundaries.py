"""billing_core stays framework-free (the ruff rule in billing_core/ruff.toml says the same)."""

import ast
from pathlib import Path

BANNED = ("flask", "flask_login", "flask_wtf", "flask_htmx", "portal", "admin")


def test_billing_core_never_imports_the_web_layer():
    root = Path(__file__).resolve().parents[2] / "billing_core"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in BANNED]
    assert offenders == []
