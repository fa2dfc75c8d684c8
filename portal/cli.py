"""Thin `flask ...` commands over billing_core. Every command accepts --json for machine-readable
output; errors exit non-zero with the message (and every row error) on stderr."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from billing_core import migrate
from billing_core.errors import BillingError, ValidationFailed
from billing_core.models.enums import Role
from portal.extensions import db_session

db_cli = AppGroup("db", help="Database schema.")
demo_cli = AppGroup("demo", help="Demo data.")
setup_cli = AppGroup("setup", help="Group set-up documents.")
users_cli = AppGroup("users", help="Portal users.")


def json_option(command):
    """Adds --json and turns the command's returned dict into JSON or readable lines; domain
    errors become a clean exit 1 with the unit of work rolled back."""

    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @functools.wraps(command)
    def wrapper(*args, as_json: bool, **kwargs):
        try:
            result = command(*args, **kwargs)
        except BillingError as error:
            db_session().rollback()
            if as_json:
                payload = {"ok": False, "error": str(error).splitlines()[0]}
                if isinstance(error, ValidationFailed):
                    payload["errors"] = [str(e) for e in error.errors]
                click.echo(json.dumps(payload, indent=2))
            else:
                click.echo(f"Error: {error}", err=True)
            sys.exit(1)
        lines = result.pop("lines", [])
        if as_json:
            click.echo(json.dumps({"ok": True, **result}, indent=2, default=str))
        else:
            for line in lines:
                click.echo(line)

    return wrapper


@db_cli.command("upgrade")
@json_option
def db_upgrade():
    """Migrate the database to the latest schema (creates it when empty)."""
    engine = current_app.extensions["db_engine"]
    migrate.upgrade(engine)
    revision = migrate.current_revision(engine)
    return {"revision": revision, "lines": [f"Database at revision {revision}."]}


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only when the database has no groups or users.")
@json_option
def demo_load(if_empty: bool):
    """Load the demo book (groups, members, brokers, one user per role). Safe to run twice."""
    from billing_core.demo import database_is_empty, load_demo

    session = db_session()
    if if_empty and not database_is_empty(session):
        return {"loaded": False, "lines": ["Database already has data; demo not loaded."]}
    result = load_demo(session)
    session.commit()
    lines = [
        "Demo data loaded." if result.loaded else "Demo data was already loaded; nothing changed."
    ]
    lines.append("Demo logins (all share one password):")
    lines += [
        f"  {login['role']:<20} {login['email']:<40} {login['password']}" for login in result.logins
    ]
    return {**result.as_dict(), "lines": lines}


@setup_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@json_option
def setup_import(file: Path, dry_run: bool):
    """Create or update groups, policies, products, rates, plans and members from FILE (YAML/JSON)."""
    from billing_core.setup_import import import_setup, load_document

    session = db_session()
    document = load_document(file)
    summary = import_setup(session, document, source=file.name)
    if dry_run:
        session.rollback()
    else:
        session.commit()
    verb = "Checked (dry run, nothing written)" if dry_run else "Imported"
    data = summary.as_dict()
    lines = [f"{verb} {file.name}:"] + [
        f"  {kind:<20} {counts}" for kind, counts in data.items() if isinstance(counts, dict)
    ]
    return {"dry_run": dry_run, "summary": data, "lines": lines}


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.password_option()
@json_option
def users_create(email: str, full_name: str, role: str, password: str):
    """Create a staff or portal user (employer group access is granted by a set-up document)."""
    from billing_core.users import create_user

    session = db_session()
    user = create_user(session, email=email, full_name=full_name, role=role, password=password)
    session.commit()
    return {
        "user_id": user.id,
        "email": user.email,
        "role": role,
        "lines": [f"Created {role} {email}."],
    }


def register_cli(app: Flask) -> None:
    for group in (db_cli, demo_cli, setup_cli, users_cli):
        app.cli.add_command(group)
