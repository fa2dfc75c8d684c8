"""The CLI: every command takes --json; commands work through the same use cases as the views."""

import json

from sqlalchemy import select

from billing_core.models import User


def _commands(group, prefix=()):
    import click

    for name, command in getattr(group, "commands", {}).items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_project_command_accepts_json(web_app):
    ours = [
        (path, cmd)
        for path, cmd in _commands(web_app.cli)
        if path[0] in {"db", "demo", "setup", "users"}
    ]
    assert len(ours) >= 4
    missing = [
        " ".join(path) for path, cmd in ours if not any(p.name == "as_json" for p in cmd.params)
    ]
    assert missing == []


def test_users_create_prints_json_and_refuses_duplicates(web_app, session):
    runner = web_app.test_cli_runner()
    args = [
        "users",
        "create",
        "--email",
        "new.staff@carrier.example.com",
        "--name",
        "New Staff",
        "--role",
        "billing_specialist",
        "--password",
        "long-enough-pass-1",
        "--json",
    ]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is True and payload["role"] == "billing_specialist"
    assert session.scalar(select(User).where(User.email == "new.staff@carrier.example.com"))
    again = runner.invoke(args=args)
    assert again.exit_code == 1
    assert json.loads(again.output)["error"].startswith("a user with email")


def test_setup_import_bad_document_names_places_and_writes_nothing(web_app, session, tmp_path):
    from billing_core.models import EmployerGroup

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "groups:\n"
        "  - group_number: 'G-9'\n"
        "    name: Broken Co\n"
        "    tax_id: '12-3456789'\n"
        "    original_effective_date: 2024-13-01\n"
        "    billing_policies:\n"
        "      - effective_from: '2024-01-01'\n"
        "        billing_method: carrier_pigeon\n"
        "        billing_frequency: monthly\n"
    )
    result = web_app.test_cli_runner().invoke(args=["setup", "import", str(bad), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.output)
    joined = "\n".join(payload["errors"])
    assert "groups[0].original_effective_date" in joined
    assert "groups[0].billing_policies[0].billing_method" in joined
    assert session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-9")) is None


def test_setup_import_dry_run_and_real_run(web_app, session):
    from pathlib import Path

    from billing_core.models import EmployerGroup

    example = str(Path(__file__).resolve().parents[1] / "data" / "setup_example.yaml")
    runner = web_app.test_cli_runner()
    dry = runner.invoke(args=["setup", "import", example, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["dry_run"] is True
    assert (
        session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-2001")) is None
    )
    real = runner.invoke(args=["setup", "import", example])
    assert real.exit_code == 0, real.output
    assert "Imported setup_example.yaml" in real.output
    assert session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-2001"))
