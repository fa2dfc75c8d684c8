"""One handler shape at the web edge (issue 18), read from the code itself: every view of the
app (`app.view_functions`) lives in a module that catches no `BillingError` (of any subclass)
by hand, builds no `select()`, commits nothing itself and redirects only through
`portal/web.py` (`run_action`, `see_other`: 303 after a change; `elsewhere` for a GET); so do
the portal's page helpers the views call (invoice and statement pages, documents, the
confirmation step). And no template decides by a role's name: templates ask `powers` and the
tenant scope (`billing_core.access`)."""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from billing_core.errors import BillingError
from portal import create_app

ROOT = Path(__file__).resolve().parents[2]
# The one module allowed to catch domain errors, commit and redirect: the handler shape itself.
WEB_EDGE = "portal.web"
# The CLI is not a view: it commits per command and prints a refusal its own way.
CLI = "portal.cli"


@pytest.fixture(scope="module")
def view_modules() -> dict[str, set[str]]:
    """Module name -> the endpoints whose view functions it holds, every blueprint's."""
    app = create_app({"TESTING": True, "SESSION_FACTORY": sessionmaker()})
    modules: dict[str, set[str]] = {}
    for endpoint, function in app.view_functions.items():
        if endpoint == "static":
            continue
        module = inspect.unwrap(function).__module__
        modules.setdefault(module, set()).add(endpoint)
    return modules


def _is_admin(module: str) -> bool:
    return module == "admin" or module.startswith("admin.")


def _billing_errors_caught(module, tree: ast.AST) -> list[str]:
    """The `except` clauses naming BillingError or a subclass, resolved in the module's own
    namespace (so an alias or `errors.ValidationFailed` is found too)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ExceptHandler) or node.type is None:
            continue
        names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
        for name in names:
            caught = _resolve(module, name)
            if isinstance(caught, type) and issubclass(caught, BillingError):
                found.append(f"line {node.lineno}: except {ast.unparse(name)}")
    return found


def _resolve(module, node: ast.expr):
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Attribute):
        owner = _resolve(module, node.value)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _calls(tree: ast.AST, name: str) -> list[str]:
    """Calls of `name(...)` or `x.name(...)`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called == name:
            found.append(f"line {node.lineno}: {ast.unparse(func)}(...)")
    return found


def _shape_problems(module_name: str) -> list[str]:
    module = sys.modules[module_name]
    source = Path(inspect.getsourcefile(module)).read_text()
    tree = ast.parse(source)
    where = Path(inspect.getsourcefile(module)).relative_to(ROOT)
    problems = [
        f"{where} catches a BillingError by hand, {p}" for p in _billing_errors_caught(module, tree)
    ]
    problems += [f"{where} builds a query, {p}" for p in _calls(tree, "select")]
    problems += [f"{where} commits itself, {p}" for p in _calls(tree, "commit")]
    problems += [
        f"{where} redirects by itself (see_other/elsewhere), {p}" for p in _calls(tree, "redirect")
    ]
    return problems


def _modules(view_modules, *, admin: bool) -> list[str]:
    names = {m for m in view_modules if _is_admin(m) is admin}
    if not admin:
        names |= {_module_name(path) for path in (ROOT / "portal").rglob("*.py")}
    return sorted(names - {WEB_EDGE, CLI})


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    __import__(name)
    return name


def test_the_views_are_found(view_modules):
    names = set(view_modules)
    assert {"portal.employer.uploads", "portal.auth.views", "portal.webhooks"} <= names
    assert any(_is_admin(m) for m in names)
    assert {"portal.statement_pages", "portal.documents"} <= set(
        _modules(view_modules, admin=False)
    )


def test_portal_views_keep_the_handler_shape(view_modules):
    problems = [p for m in _modules(view_modules, admin=False) for p in _shape_problems(m)]
    assert problems == []


def test_admin_views_keep_the_handler_shape(view_modules):
    problems = [p for m in _modules(view_modules, admin=True) for p in _shape_problems(m)]
    assert problems == []


# A template deciding by role: `role == ...`, `role.value in (...)`, `Role.X`, or a role's name
# compared (`== 'employer'`, `in ('supervisor', 'admin')`). Showing a role's label is fine.
ROLE_NAMES = "employer|broker|billing_specialist|supervisor|admin"
ROLE_TESTS = [
    re.compile(r"\brole(\.value)?\s*(==|!=|\bin\b|\bnot\s+in\b|\bis\b)"),
    re.compile(r"\bRole\."),
    re.compile(rf"(==|!=)\s*['\"]({ROLE_NAMES})['\"]"),
    re.compile(rf"['\"]({ROLE_NAMES})['\"]\s*(==|!=)"),
    re.compile(rf"\bin\s*[\(\[]\s*['\"]({ROLE_NAMES})['\"]"),
]
JINJA_CODE = re.compile(r"{%.*?%}|{{.*?}}", re.S)


def _role_tests(folder: str) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.html")):
        text = path.read_text()
        for code in JINJA_CODE.finditer(text):
            if any(pattern.search(code.group()) for pattern in ROLE_TESTS):
                line = text.count("\n", 0, code.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {code.group()[:80]}")
    return found


def test_portal_templates_ask_questions_not_roles():
    assert _role_tests("portal/templates") == []


def test_admin_templates_ask_questions_not_roles():
    assert _role_tests("admin/templates") == []


def test_the_role_checks_are_caught():
    """The patterns find what the templates used to say."""
    samples = [
        "{% if current_user.role.value == 'employer' %}",
        "{% if current_user.role.value in ('supervisor', 'admin') %}",
        "{% if area == 'employer' and view.row.balance > 0 %}",
        "{% if user.role is Role.ADMIN %}",
    ]
    assert all(any(p.search(s) for p in ROLE_TESTS) for s in samples)
    assert not any(p.search("{{ current_user.role.label }}") for p in ROLE_TESTS)
