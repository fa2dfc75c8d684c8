"""A plain full 834 read straight into columns (census.x12.columns) gives exactly what the
segment-by-segment handlers give: the same rows, coverages, dependents, problems, envelope
detail and 999 notes, on a generated full file and on each variation of one of its members
(whether the columns read it or decline it to the handlers); and the diff of the two against
an enrolled group is the same."""

from __future__ import annotations

import json
import random
from datetime import date, datetime

import pytest

from billing_core.census.diff import diff_census
from billing_core.census.rows import MemberColumns
from billing_core.census.x12 import acknowledgement_999, read_834
from tests.factories import enroll, make_dental_plan, make_group, make_member

NOW = datetime(2026, 1, 2, 9, 0)


def _family(n: int, rng: random.Random) -> list[list[str]]:
    """Subscriber n's loop and its dependents' loops, each a list of segments."""
    spouse = rng.random() < 0.5
    children = rng.choice((0, 0, 1, 2))
    level = "FAM" if spouse and children else "ESP" if spouse else "ECH" if children else "EMP"
    employee = f"E{n:05d}"
    born = date(1960, 1, 1).toordinal() + rng.randrange(15000)
    loops = [
        [
            "INS*Y*18*030*XN*A***FT",
            f"REF*0F*{employee}",
            "REF*1L*GRP-1",
            f"REF*DX*DIV{n % 3}",
            f"DTP*336*D8*{2010 + n % 10}0{1 + n % 9}15",
            f"NM1*IL*1*LAST{n}*FIRST{n}*Q***34*{219090000 + n}",
            "PER*IP**HP*6145550101",
            f"N3*{n} MAIN ST",
            f"N4*COLUMBUS*OH*{43000 + n:05d}",
            f"DMG*D8*{date.fromordinal(born):%Y%m%d}*{'FM'[n % 2]}*M",
            f"ICM*2*{1500 + n}.{n % 100:02d}*40",
            f"HD*030**HLT*PPO500*{level}",
            "DTP*348*D8*20250101",
            f"HD*030**DEN*DENHIGH*{level}",
            "DTP*348*D8*20250101",
            "HD*030**LIF*BLIFE*EMP",
            "DTP*348*D8*20250101",
            f"AMT*FK*{50000 + (n % 3) * 10000}",
        ]
    ]
    for k, relation in enumerate((["01"] if spouse else []) + ["19"] * children):
        loops.append(
            [
                f"INS*N*{relation}*030*XN*A",
                f"REF*0F*{employee}",
                f"NM1*IL*1*LAST{n}*DEP{k}",
                f"DMG*D8*{date.fromordinal(born + 900 * (k + 1)):%Y%m%d}*{'MF'[k % 2]}",
                f"HD*030**HLT*PPO500*{level}",
                "DTP*348*D8*20250101",
                f"HD*030**DEN*DENHIGH*{level}",
                "DTP*348*D8*20250101",
            ]
        )
    return loops


def _file(families: list[list[list[str]]], *, kind: str = "4") -> bytes:
    people = [loop for family in families for loop in family]
    subscribers = sum(1 for loop in people if loop[0].startswith("INS*Y"))
    body = [
        "ST*834*0001*005010X220A1",
        f"BGN*00*FULL*20260101*0900****{kind}",
        "REF*38*GRP-1",
        "DTP*007*D8*20260101",
        f"QTY*ET*{subscribers}",
        f"QTY*DT*{len(people) - subscribers}",
        "N1*P5*ACME WIDGETS INC*FI*361234567",
        "N1*IN*GREAT LAKES MUTUAL*FI*391112222",
        *[segment for loop in people for segment in loop],
    ]
    body.append(f"SE*{len(body) + 1}*0001")
    segments = [
        "ISA*00*          *00*          *ZZ*ACMEPAYROLL    *ZZ*PREMIUMBILL    "
        "*260101*0900*^*00501*000000001*0*P*:",
        "GS*BE*ACMEPAYROLL*PREMIUMBILL*20260101*0900*1*X*005010X220A1",
        *body,
        "GE*1*1",
        "IEA*1*000000001",
    ]
    return ("~\n".join(segments) + "~\n").encode()


def _families(count: int = 12) -> list[list[list[str]]]:
    rng = random.Random(19)
    return [_family(n, rng) for n in range(1, count + 1)]


def _as_read(data: bytes, *, columnar: bool) -> dict:
    census = read_834(data, "full.834", columnar=columnar)
    columns = isinstance(census.rows, MemberColumns)  # before as_dict builds the members
    said = census.as_dict()
    said["errors_located"] = [(e.row, e.column, e.message, e.value) for e in census.errors]
    said["warnings_located"] = [(w.row, w.column, w.message, w.value) for w in census.warnings]
    said["control_totals"] = repr(census.control_totals)
    said["999"] = acknowledgement_999(census, data, control_number=1, now=NOW)
    said["columns"] = columns
    return json.loads(json.dumps(said, default=str))


def _both(data: bytes) -> tuple[dict, bool]:
    """The two readings, compared whole; whether the columns read the members."""
    columns = _as_read(data, columnar=True)
    segments = _as_read(data, columnar=False)
    used = columns.pop("columns")
    assert segments.pop("columns") is False
    assert columns == segments
    return columns, used


def test_a_plain_full_file_is_read_as_columns_exactly_as_segment_by_segment():
    said, used = _both(_file(_families()))
    assert used
    assert said["employees"] == 12 and said["dependents"] > 5
    assert said["errors"] == [] and said["warnings"] == []
    assert said["detail"]["group_policy_numbers"] == ["GRP-1"]
    first = said["members"][0]
    assert first["employee_id"] == "E00001" and first["subgroup_code"] == "DIV1"
    assert first["coverages"][2]["elected_volume"] == "60000"


def test_a_members_object_is_built_only_when_asked_for():
    census = read_834(_file(_families()), "full.834")
    rows = census.rows
    assert isinstance(rows, MemberColumns)
    assert rows._built.count(None) == len(rows)
    member = rows[3]
    assert rows._built.count(None) == len(rows) - 1
    assert member is rows[3] and member.employee_id == "E00004"
    assert member.coverages == rows.coverages_of(3) and member.coverages is not rows.coverages_of(3)


# (what one member's loop is changed to, whether the columns still read the file)
VARIATIONS = {
    "a coverage begun and ended by a range (RD8)": (
        lambda f: _replace(f, 0, 0, "DTP*348*D8*20250101", "DTP*348*RD8*20250101-20251231"),
        True,
    ),
    "a coverage ended (DTP*349)": (
        lambda f: _insert(f, 0, 0, "HD*030**DEN", "DTP*349*D8*20251130"),
        True,
    ),
    "an end of 22991231 (no end)": (
        lambda f: _insert(f, 1, 0, "HD*030**HLT", "DTP*349*D8*22991231"),
        True,
    ),
    "REF*17 for the subgroup": (lambda f: _replace(f, 2, 0, "REF*DX*", "REF*17*"), True),
    "REF*17 and REF*DX": (lambda f: _insert(f, 2, 0, "REF*DX*", "REF*17*LOC9"), True),
    "the member's maintenance date (DTP*303)": (
        lambda f: _insert(f, 3, 0, "REF*DX*", "DTP*303*D8*20260201"),
        True,
    ),
    "a dependent's eligibility (DTP*356), no coverage": (
        lambda f: _drop_coverages(_insert(f, 1, 1, "REF*0F", "DTP*356*D8*20240301"), 1, 1),
        True,
    ),
    "an hourly wage": (lambda f: _replace(f, 4, 0, "ICM*2*", "ICM*H*25.50*38*", cut=True), True),
    "hours left blank": (lambda f: _replace(f, 4, 0, "ICM*2*", "ICM*H*25.50", cut=True), True),
    "no SSN": (lambda f: _replace(f, 5, 0, "NM1*IL*", "NM1*IL*1*LASTX*FIRSTX", cut=True), True),
    "SSN all zeros": (
        lambda f: _replace(f, 5, 0, "NM1*IL*", "NM1*IL*1*L*F*Q***34*000000000", cut=True),
        True,
    ),
    "COBRA": (lambda f: _replace(f, 6, 0, "INS*Y", "INS*Y*18*030*XN*C***FT", cut=True), True),
    "retired": (lambda f: _replace(f, 6, 0, "INS*Y", "INS*Y*18*030*XN*A***RT", cut=True), True),
    "no employment status": (
        lambda f: _replace(f, 7, 0, "INS*Y", "INS*Y*18*030*XN*A", cut=True),
        True,
    ),
    "no gender": (lambda f: _replace(f, 7, 0, "DMG*", "DMG*D8*19700101", cut=True), True),
    "no birth date": (lambda f: _replace(f, 8, 0, "DMG*", "DMG*D8**F", cut=True), True),
    "a mailing address loop after the name": (
        lambda f: _insert(f, 8, 0, "DMG*", "NM1*31*1~N3*PO BOX 1~N4*DAYTON*OH*45401"),
        True,
    ),
    "a volume on a dental line (not read)": (
        lambda f: _insert(f, 9, 0, "HD*030**DEN", "AMT*FK*1000"),
        True,
    ),
    "a policy number in a coverage loop": (
        lambda f: _insert(f, 9, 0, "HD*030**HLT", "REF*1L*GRP-2"),
        True,
    ),
    "a subscriber without coverage": (lambda f: _drop_coverages(f, 10, 0), True),
    "an HD without a coverage level": (
        lambda f: _replace(f, 10, 0, "HD*030**LIF", "HD*030**LIF*BLIFE", cut=True),
        False,
    ),
    "an unissued SSN": (
        lambda f: _replace(f, 5, 0, "NM1*IL*", "NM1*IL*1*L*F*Q***34*666001234", cut=True),
        False,
    ),
    "a bad pay frequency": (lambda f: _replace(f, 4, 0, "ICM*2*", "ICM*Z*"), False),
    "a dependent naming another subscriber": (
        lambda f: _replace(f, 1, 1, "REF*0F*", "REF*0F*X", cut=True),
        False,
    ),
    "a stated premium": (lambda f: _insert(f, 1, 0, "HD*030**HLT", "AMT*P3*612.40"), False),
    "a line added (HD 021)": (lambda f: _replace(f, 1, 0, "HD*030**DEN", "HD*021**DEN"), False),
    "an add in a full file": (lambda f: _replace(f, 1, 0, "INS*Y*18*030", "INS*Y*18*021"), False),
    "cancelled from inception": (
        lambda f: _insert(f, 2, 0, "HD*030**DEN", "DTP*349*D8*20250101"),
        False,
    ),
    "an employee twice": (lambda f: _replace(f, 3, 0, "REF*0F*", "REF*0F*E00001", cut=True), False),
    "a name outside Latin-1": (lambda f: _replace(f, 3, 0, "NM1*IL*1*", "NM1*IL*1*ŁUKASZ*"), False),
    "a name longer than kept": (
        lambda f: _replace(f, 3, 0, "NM1*IL*1*", "NM1*IL*1*" + "X" * 300),
        False,
    ),
    "a bad date": (
        lambda f: _replace(f, 4, 0, "DTP*348*D8*20250101", "DTP*348*D8*20250231"),
        False,
    ),
    "a death": (
        lambda f: _replace(f, 5, 0, "INS*Y*18*030*XN", "INS*Y*18*030*03"),
        False,
    ),
    "a dependent before any subscriber": (
        lambda f: [[f[1][1]], f[0], [f[1][0], *f[1][2:]], *f[2:]],
        False,
    ),
    "a loop 2750 category": (
        lambda f: _insert(f, 6, 0, "AMT*FK", "LS*2700~LX*1~N1*75*CLASS~REF*17*A~LE*2700"),
        False,
    ),
    "the member's end in loop 2000 (DTP*357)": (
        lambda f: _insert(f, 6, 0, "DTP*336", "DTP*357*D8*20261231"),
        False,
    ),
}


def _replace(families, n, k, old, new, *, cut=False):
    families = [list(map(list, family)) for family in families]
    loop = families[n][k]
    for i, segment in enumerate(loop):
        if segment.startswith(old):
            loop[i] = new if cut else segment.replace(old, new, 1)
            return families
    raise AssertionError(old)


def _insert(families, n, k, after, new):
    families = [list(map(list, family)) for family in families]
    loop = families[n][k]
    for i, segment in enumerate(loop):
        if segment.startswith(after):
            loop[i + 1 : i + 1] = new.split("~")
            return families
    raise AssertionError(after)


def _drop_coverages(families, n, k):
    families = [list(map(list, family)) for family in families]
    loop = families[n][k]
    first = next(i for i, segment in enumerate(loop) if segment.startswith("HD*"))
    del loop[first:]
    return families


@pytest.mark.parametrize("name", list(VARIATIONS))
def test_each_variation_reads_the_same_both_ways(name):
    change, plain = VARIATIONS[name]
    _, used = _both(_file(change(_families())))
    assert used is plain


def test_a_change_file_is_read_segment_by_segment():
    families = [[[s.replace("*030*", "*001*", 1) for s in loop] for loop in f] for f in _families()]
    _, used = _both(_file(families, kind="2"))
    assert used is False


def test_random_variations_read_the_same_both_ways():
    rng = random.Random(834)
    names = list(VARIATIONS)
    for _ in range(25):
        families = _families(14)
        for name in rng.sample(names, 3):
            try:
                families = VARIATIONS[name][0](families)
            except (AssertionError, IndexError):  # an earlier one moved what this one changes
                continue
        _both(_file(families))


@pytest.fixture
def enrolled(session):
    group = make_group(session, tax_id="36-1234567")
    plan = make_dental_plan(session, group)
    plan.code = "DENHIGH"  # the file's HD04
    for n in (1, 2, 3, 5):
        member = make_member(
            session, group, employee_id=f"E{n:05d}", first_name=f"FIRST{n}", last_name=f"LAST{n}"
        )
        enroll(session, member, plan, "EE")
    return group


def test_the_diff_of_the_columns_is_the_diff_of_the_rows(session, enrolled):
    data = _file(_families(6))
    on = date(2026, 1, 1)
    by_columns = diff_census(session, enrolled, read_834(data, "full.834"), on)
    by_rows = diff_census(session, enrolled, read_834(data, "full.834", columnar=False), on)

    def said(diff):
        return (
            [
                (
                    m.kind.value,
                    m.employee_id,
                    [(f.field, str(f.before), str(f.after)) for f in m.fields],
                    [c.describe() for c in m.coverages],
                )
                for m in diff.members
            ],
            [str(e) for e in diff.errors],
            [str(w) for w in diff.warnings],
        )

    assert said(by_columns) == said(by_rows)
    assert by_columns.counts == by_rows.counts


def _region_of(texts: list[str]):
    """`Segments` over a file whose member region is an INS and then `texts` (each a
    segment): `texts[i]` is the region's segment i + 1."""
    from billing_core.census.x12.columns import Segments, plain_layout

    body = "~".join(["ISA*x", "GS*x", "ST*834", "INS*Y", *texts, "SE*1", "GE*1", "IEA*1"])
    layout = plain_layout(body + "~", "*", "~")
    assert (layout.first_ins, layout.se) == (3, 4 + len(texts))
    return Segments(layout)


@pytest.mark.parametrize("collide", [False, True])
def test_segments_are_told_apart_by_their_bytes_exactly_as_pandas_tells_their_texts(
    monkeypatch, collide
):
    """`Segments.distinct` numbers the segments as `pd.factorize` numbers their texts: the
    same codes, the same distinct texts in the same order, whether two texts share a key
    (every word mixed into zero: the byte comparison falls back) or not, and whether a
    segment is wider than the bytes compared (`_WIDEST`: texts compared instead)."""
    import numpy as np
    import pandas as pd

    from billing_core.census.x12 import columns

    if collide:
        monkeypatch.setattr(columns.Segments, "_MIX", np.zeros(8, dtype=np.uint64))
    rng = random.Random(5)
    texts = [
        rng.choice(["DTP*348*D8*20250101", "DTP*348*D8*20250102", "HD*030**HLT*PPO*FAM"])
        + rng.choice(["", "*", "9", "*1"])
        for _ in range(400)
    ]
    texts += ["REF*0F*" + "9" * rng.randrange(1, 70) for _ in range(40)]
    segments = _region_of(texts)
    everything = np.arange(len(texts))
    for at in (everything, everything[: len(texts) - 40], everything[::3], everything[:0]):
        codes, distinct = segments.distinct(at + 1)
        as_texts = np.empty(len(at), dtype=object)
        as_texts[:] = [texts[i] for i in at]
        expected_codes, expected = pd.factorize(as_texts)
        assert codes.tolist() == expected_codes.tolist()
        assert distinct == expected.tolist()
        assert segments.each(at + 1) == [texts[i] for i in at]
