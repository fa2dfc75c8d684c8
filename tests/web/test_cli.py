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


def test_every_project_command_accepts_json(app):
    ours = [(path, cmd) for path, cmd in _commands(app.cli) if path[0] in {"db", "demo", "setup", "users"}]
    assert len(ours) >= 4
    missing = [" ".join(path) for path, cmd in ours if not any(p.name == "as_json" for p in cmd.params)]
    assert missing == []


def test_users_create_prints_json_and_refuses_duplicates(app, session):
    runner = app.test_cli_runner()
    args = ["users", "create", "--email", "new.staff@carrier.example.com", "--name", "New Staff",
            "--role", "billing_specialist", "--password", "long-enough-pass-1", "--json"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is True and payload["role"] == "billing_specialist"
    assert session.scalar(select(User).where(User.email == "new.staff@carrier.example.com"))
    again = runner.invoke(args=args)
    assert again.exit_code == 1
    assert json.loads(again.output)["error"].startswith("a user with email")
