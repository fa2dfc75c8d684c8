"""The CLI: every command takes --json; commands work through the same use cases as the views."""

import json

from sqlalchemy import func, select

from billing_core.models import User
from billing_core.money import D


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
        if path[0]
        in {"db", "demo", "setup", "users", "billing", "census", "payments", "mail", "keys"}
    ]
    assert len(ours) >= 6
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


def test_billing_run_dry_run_then_issue_then_idempotent_and_invoice_print(web_app, session):
    from billing_core.models import Invoice
    from tests.factories import enroll, make_dental_plan, make_group, make_member

    group = make_group(session)
    plan = make_dental_plan(session, group)
    enroll(session, make_member(session, group, last_name="Quinn"), plan, "FAM")
    session.commit()
    runner = web_app.test_cli_runner()
    base = ["billing", "run", "--period", "2027-02", "--group", group.group_number]

    dry = runner.invoke(args=[*base, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["invoices"][0]["total_due"] == "112.40"
    assert session.scalar(select(Invoice).where(Invoice.group_id == group.id)) is None

    issued = runner.invoke(args=[*base, "--issue-date", "2027-01-17"])
    assert issued.exit_code == 0, issued.output
    number = f"{group.group_number}-202702"
    assert number in issued.output and "112.40" in issued.output
    again = json.loads(runner.invoke(args=[*base, "--json"]).output)
    assert again["issued"] == [] and again["already_issued"] == [number]

    printed = runner.invoke(args=["billing", "invoice", number])
    assert printed.exit_code == 0, printed.output
    assert "Period Feb 2027, issued 2027-01-17, due 2027-02-01" in printed.output
    assert "Quinn" in printed.output and "Added members and coverages" in printed.output
    data = json.loads(runner.invoke(args=["billing", "invoice", number, "--json"]).output)
    assert data["sections"]["total_due"] == "112.40"
    assert data["member_lines"][0]["tier"] == "FAM"
    assert data["bill_bridge"]["steps"][0] == {
        "step": "adds",
        "label": "Added members and coverages",
        "amount": "112.40",
        "rows": 1,
    }
    missing = runner.invoke(args=["billing", "invoice", "NOPE-1", "--json"])
    assert missing.exit_code == 1 and "no invoice numbered NOPE-1" in missing.output
    bad = runner.invoke(args=["billing", "run", "--period", "Feb 2027"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output


def test_census_parse_prints_rows_and_rejects_a_bad_file(web_app, tmp_path):
    good = tmp_path / "census.csv"
    good.write_text(
        "EE ID,Rel,First Name,Last Name,DOB,SSN,Dental Tier\n"
        "000123,EE,Maria,Lopez,04/17/1980,219-09-9999,ES\n"
        ",SP,Jorge,Lopez,11/02/1979,,\n"
    )
    runner = web_app.test_cli_runner()
    result = runner.invoke(args=["census", "parse", str(good), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind_guess"] == "snapshot" and data["employees"] == 1 and data["dependents"] == 1
    [member] = data["members"]
    assert member["employee_id"] == "000123" and member["ssn"] == "***-**-9999"
    assert "219-09-9999" not in result.output and "219099999" not in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("EE ID,First Name,Last Name,DOB\nE1,Ann,Avery,13/45/1990\n")
    rejected = runner.invoke(args=["census", "parse", str(bad)])
    assert rejected.exit_code == 1
    assert "bad.csv, row 2, column DOB: not a real date" in rejected.output


def test_census_check_diffs_against_the_group_and_writes_nothing(web_app, session, cast, tmp_path):
    from billing_core.models import Coverage

    east, west = cast.member_east, cast.member_west
    snapshot = tmp_path / "snapshot.csv"
    snapshot.write_text(
        "Employee ID,First Name,Last Name,Date of Birth,Dental Tier\n"
        f"{east.employee_id},{east.first_name},{east.last_name},{east.birth_date:%m/%d/%Y},ES\n"
    )
    coverages = session.scalar(select(func.count()).select_from(Coverage))
    runner = web_app.test_cli_runner()
    args = ["census", "check", str(snapshot), "--group", cast.group_a.group_number]
    result = runner.invoke(args=[*args, "--as-of", "2027-03-01", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"] == {"add": 0, "term": 1, "change": 1, "unchanged": 0}
    kinds = {m["employee_id"]: (m["kind"], m["coverages"]) for m in data["members"]}
    assert kinds[east.employee_id] == ("change", ["Dental: tier FAM → ES"])
    assert kinds[west.employee_id][0] == "term"
    assert session.scalar(select(func.count()).select_from(Coverage)) == coverages
    unknown = runner.invoke(args=["census", "check", str(snapshot), "--group", "NOPE"])
    assert unknown.exit_code == 1 and "no group numbered NOPE" in unknown.output


def test_census_import_keeps_the_file_is_idempotent_and_approves(web_app, session, cast, tmp_path):
    from billing_core.models import Adjustment, Upload
    from billing_core.models.enums import UploadStatus

    east = cast.member_east
    change = tmp_path / "changes.csv"
    change.write_text(
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{east.employee_id},{east.first_name},{east.last_name},{east.birth_date:%m/%d/%Y},"
        "Term,12/31/2026\n"
    )
    runner = web_app.test_cli_runner()
    args = [
        "census",
        "import",
        str(change),
        "--group",
        cast.group_a.group_number,
        "--as-user",
        cast.users["billing_specialist"].email,
        "--as-of",
        "2027-01-10",
        "--kind",
        "change",
    ]
    first = runner.invoke(args=[*args, "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["duplicate"] is False and data["counts"]["term"] == 1
    upload = session.get(Upload, data["upload_id"])
    assert upload.content == change.read_bytes() and upload.status is UploadStatus.SUBMITTED

    again = json.loads(runner.invoke(args=[*args, "--json"]).output)
    assert again["duplicate"] is True and again["upload_id"] == upload.id
    assert session.scalar(select(func.count()).select_from(Upload)) == 1

    approved = runner.invoke(args=[*args, "--approve"])
    assert approved.exit_code == 0, approved.output
    session.expire_all()
    assert session.get(Upload, upload.id).status is UploadStatus.APPROVED
    # January 2027 was billed (FAM 112.40) and East is termed at the end of December.
    [credit] = session.scalars(select(Adjustment).where(Adjustment.member_id == east.id)).all()
    assert (credit.amount, credit.reason_code, credit.source_id) == (
        D("-112.40"),
        "late_term",
        upload.id,
    )

    bad = tmp_path / "bad.csv"
    bad.write_text("Employee ID,First Name,Last Name,Date of Birth\nE1,Ann,Avery,13/45/1990\n")
    rejected = runner.invoke(args=[*args[:2], str(bad), *args[3:]])
    assert rejected.exit_code == 1 and "nothing was saved" in rejected.output
    assert session.scalar(select(func.count()).select_from(Upload)) == 1


def test_payments_import_matches_lines_and_twice_changes_nothing(web_app, session, cast, tmp_path):
    from billing_core.models import Payment, SuspenseItem

    file = tmp_path / "lockbox.csv"
    file.write_text(
        "deposit_date,check_number,amount,payer_name,group_number,invoice_number\n"
        f"2027-01-05,4021,150.60,Acme,,{cast.invoice_a.invoice_number}\n"
        "2027-01-05,4023,412.00,Unknown Payer Co,,\n"
    )
    staff = cast.users["billing_specialist"].email
    runner = web_app.test_cli_runner()
    args = ["payments", "import", str(file), "--as-user", staff]
    first = runner.invoke(args=[*args, "--json"])
    assert first.exit_code == 0, first.output
    result = json.loads(first.output)
    assert [i["result"] for i in result["items"]] == ["matched", "suspense"]
    assert result["items"][0]["group_id"] == cast.group_a.id
    again = runner.invoke(args=args)
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert session.scalar(select(func.count()).select_from(Payment)) == 2
    assert session.scalar(select(func.count()).select_from(SuspenseItem)) == 1


def test_payments_import_refuses_a_bad_file_whole(web_app, session, cast, tmp_path):
    from billing_core.models import Payment

    file = tmp_path / "lockbox.csv"
    file.write_text("deposit_date,check_number,amount\n2027-01-05,1,12.345\n2027-01-05,2,5.00\n")
    staff = cast.users["billing_specialist"].email
    result = web_app.test_cli_runner().invoke(
        args=["payments", "import", str(file), "--as-user", staff, "--json"]
    )
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert not payload["ok"] and any("row" in e and "amount" in e for e in payload["errors"])
    assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_collections_sweep_prints_counts_and_refuses_a_day_before_the_last_sweep(web_app, cast):
    runner = web_app.test_cli_runner()
    first = runner.invoke(args=["collections", "sweep", "--as-of", "2027-03-10", "--json"])
    assert first.exit_code == 0, first.output
    payload = json.loads(first.output)
    assert {"transitions", "notices_sent", "late_fees"} <= payload.keys()
    again = runner.invoke(args=["collections", "sweep", "--as-of", "2027-03-10", "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["transitions"] == 0
    earlier = runner.invoke(args=["collections", "sweep", "--as-of", "2027-03-01", "--json"])
    assert earlier.exit_code == 1
    assert "last swept as of 2027-03-10" in json.loads(earlier.output)["error"]
