"""The envelope layer of the 834 reader (census.x12), the base of its reader class: the state
of one read, the interchange, its functional groups and transaction sets, and how every problem
is recorded and located. It owns the ISA/GS/ST/BGN/QTY/N1/SE/GE/IEA segments, the checks a
transaction set must pass to be an employer group's benefit enrollment (a BGN, a sponsor and a
payer loop; not the exchange 834), and the notes the 999 (census.x12.ack) is written from; the
member loops are census.x12.members' and census.x12.closing's.

Envelope problems that make a file untrustworthy (no SE, GE or IEA: truncated; the counts of
sets or groups that do not add up; control numbers that do not repeat) are errors. Deviations
real senders make in a file that is otherwise whole are warnings: an SE01 count that is off,
the BGN action code in BGN07, a GS08 naming another guide when ST01 says 834, an ISA12 that
does not match GS08.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from billing_core.census.rows import CensusCoverage, CensusFile, CensusMember
from billing_core.census.x12.tolerance import first_packed
from billing_core.errors import RowError
from billing_core.models.enums import UploadFormat, UploadKind

VERSION_5010 = "005010X220A1"
VERSION_4010 = "004010X095A1"
EXCHANGE_834 = "X307"  # 005010X307: the exchange (marketplace) 834, other loops, not ours

# BGN08: 2 change; 4 verify and RX replace are both full files. In a full file a termination
# (INS03 024) is an error: a full file lists who is covered, terms belong in a change file; so
# is a full file whose every subscriber is an add (021): its generator did not follow the guide
# (a full file says 030), and reading it as a snapshot would term everyone it leaves out. An
# audit row (030) in a change file is accepted and means "as is".
KIND = {"2": UploadKind.CHANGE, "4": UploadKind.SNAPSHOT, "RX": UploadKind.SNAPSHOT}
_SNAPSHOT = UploadKind.SNAPSHOT

# N1 entity codes: 1000A sponsor, 1000B payer, 1000C broker or administrator, 2750 category.
_N1_LOOPS = {"P5": "1000A", "IN": "1000B", "BO": "1000C", "TV": "1000C", "75": "2750"}


class InterchangeReader:
    """The state of one read and the envelope's segment handlers; census.x12.closing and
    census.x12.members add the member loops (`close_family` ends the subscriber being read
    when a set ends).

    Problems: `error` (the file cannot be applied as sent) and `warning` (read as the sender
    meant it), each located at the current segment of the current set and person; with an
    IK3 code they are also a note for the 999."""

    def __init__(self, source: str):
        self.source = source
        self.census = CensusFile(source=source, file_format=UploadFormat.X12_834)
        self.errors = self.census.errors
        self.warnings = self.census.warnings
        self.dates: dict[str, date | None] = {}
        self.amounts: dict[str, Decimal] = {}  # valid amounts only: a bad one is reported each time
        self.seg_no = 0  # ordinal in the file
        self.st_base = 0  # segments before the current ST
        self.loop = ""
        self.isa: list[str] = []
        self.interchanges = 0
        self.ended = False  # IEA seen
        self.group: dict | None = None
        self.groups: list[dict] = []
        self.st: dict | None = None
        self.sets: list[dict] = []
        self.ins_no = 0
        self.person = None  # the census.x12.loops.Person being read
        self.subscriber = None  # and the subscriber whose family it is in
        self.hd: list | None = None  # the HD loop being read (see census.x12.loops)
        self.cov: CensusCoverage | None = None  # its coverage
        self.category: str = ""
        # every subscriber row of the file by employee id, in order: repeats, and the
        # dependents of a subscriber sent in an earlier transaction set
        self.rows_by_id: dict[str, list[CensusMember]] = {}
        # this set's dependent-only rows by subscriber id: (row, its first INS, position)
        self.held: dict[str, tuple[CensusMember, str, int]] = {}
        self.premiums: list[dict] = []
        self.isa_version_warned = False
        self.policy_numbers: set[str] = set()
        self.master_policies: set[str] = set()

    def close_family(self) -> None:
        """End the subscriber's loops being read (census.x12.closing)."""
        raise NotImplementedError

    @property
    def pos(self) -> int:
        """Position in the transaction set (ST = 1), as SE01 and the 999's IK302 count."""
        return self.seg_no - self.st_base

    # -- errors and warnings ------------------------------------------------------------------

    def where(self, pos: int | None = None) -> str:
        if self.st is None:
            return f"segment {self.seg_no} of the file"
        at = f"ST {self.st['control']}"
        person = self.person
        if person is not None:
            at = person.where
            if person.employee_id:
                at += f" (employee {person.employee_id})"
        return f"{at}, segment {self.pos if pos is None else pos}"

    def note(
        self,
        column: str | None,
        ik3: str,
        ik4: str | None,
        pos: int | None,
        segment: str | None,
        loop: str | None,
    ) -> dict:
        """The 999's IK3 (and IK4) for a problem at the current segment (or `pos`)."""
        element = None
        if column and segment is None:
            match = re.match(r"([A-Z][A-Z0-9]{1,2}?)(\d\d)$", column)
            if match:
                segment, element = match.group(1), int(match.group(2))
        elif column and segment and column.startswith(segment) and column[len(segment) :].isdigit():
            element = int(column[len(segment) :])
        note = {
            "segment": segment or (column or "")[:3],
            "position": pos if pos is not None else self.pos,
            "loop": loop if loop is not None else self.loop,
            "code": ik3,
        }
        if element is not None and ik4:
            note["element"] = element
            note["element_code"] = ik4
        return note

    def error(
        self,
        column: str | None,
        message: str,
        value: str | None = None,
        *,
        ik4: str | None = "7",
        ik3: str | None = "8",
        pos: int | None = None,
        segment: str | None = None,
        loop: str | None = None,
        at: str | None = None,
    ) -> None:
        """Record a problem at the current segment (or `pos`; `at` names the place instead).
        `ik3`/`ik4` are the 999's segment and element error codes (8 data element errors; 7
        invalid code, 8 invalid date, 1 missing, 6 invalid character, I12 pattern); `ik3` None
        for trailer problems, which the 999 reports in IK5 rather than as a segment note."""
        self.errors.append(RowError(at or self.where(pos), column, message, self.source, value))
        if self.person is not None:
            self.person.valid = False
        st = self.st
        if st is None:
            return
        st["errors"] += 1
        if ik3 is not None:
            st["notes"].append(self.note(column, ik3, ik4, pos, segment, loop))

    def warning(
        self,
        column: str | None,
        message: str,
        value: str | None = None,
        *,
        ik3: str | None = None,
        ik4: str | None = "7",
        pos: int | None = None,
        segment: str | None = None,
        loop: str | None = None,
        at: str | None = None,
    ) -> None:
        """Record a deviation read as the sender meant it. With `ik3` it is a deviation from
        the guide: the 999 notes it and accepts the set with IK5 E; without, it is not the
        sender's syntax (an SSN never issued, a member sent twice) and the 999 is silent."""
        self.warnings.append(RowError(at or self.where(pos), column, message, self.source, value))
        st = self.st
        if ik3 is None or st is None:
            return
        st["warned"] = True
        st["notes"].append(self.note(column, ik3, ik4, pos, segment, loop))

    def file_error(
        self,
        column: str | None,
        message: str,
        value: str | None = None,
        *,
        located=True,
        at: int | None = None,
    ) -> None:
        """An envelope problem: at this segment of the file (or segment `at`), or (not
        `located`) the whole file."""
        row = f"segment {at or self.seg_no} of the file" if located else None
        self.errors.append(RowError(row, column, message, self.source, value))

    def file_warning(
        self, column: str | None, message: str, value: str | None = None, *, row: str | None
    ) -> None:
        """A tolerated deviation in the envelope or the file's text, at `row`."""
        self.warnings.append(RowError(row, column, message, self.source, value))

    def unpacked(self, column: str, value: str) -> str:
        """The first of `;`-packed values, with a warning naming the element."""
        first = first_packed(value)
        self.warning(
            column,
            f"holds ';'-packed values: the first ({first or 'empty'}) is read",
            value,
            ik3="8",
            ik4="6",
        )
        return first

    def date(self, column: str, value: str) -> date | None:
        """A D8 date (CCYYMMDD); files repeat the same few dates, so parses are cached."""
        parsed = self.dates.get(value)
        if parsed is not None:
            return parsed
        if len(value) == 8 and value.isdigit():
            try:
                parsed = date(int(value[:4]), int(value[4:6]), int(value[6:]))
            except ValueError:
                parsed = None
        self.dates[value] = parsed
        if parsed is None:
            self.error(column, "expected a date as CCYYMMDD", value, ik4="8")
        return parsed

    def period(self, segment: str, el: list[str]) -> tuple[date | None, date | None]:
        """DTP02/DTP03 (or DMG01/02): a D8 date or an RD8 range; (start, end)."""
        fmt = el[2] if len(el) > 2 else ""
        value = el[3] if len(el) > 3 else ""
        if fmt == "D8":
            day = self.dates.get(value) or self.date(segment + "03", value)
            return day, day
        if fmt == "RD8":
            first, _, last = value.partition("-")
            if not last:
                self.error(segment + "03", "expected a range as CCYYMMDD-CCYYMMDD", value, ik4="8")
                return None, None
            return self.date(segment + "03", first), self.date(segment + "03", last)
        self.error(segment + "02", "expected the date format D8 or RD8", fmt)
        return None, None

    # -- envelope -----------------------------------------------------------------------------

    def on_isa(self, el: list[str]) -> None:
        self.interchanges += 1
        if self.interchanges > 1:
            self.file_error("ISA", "a second ISA inside the interchange: the file is damaged")

    def after_end(self, el: list[str]) -> None:
        if el[0] == "ISA":
            message = "a second interchange follows the IEA: send one ISA/IEA interchange per file"
        else:
            message = "segments follow the IEA interchange trailer"
        self.file_error(el[0][:3], message)

    def on_gs(self, el: list[str]) -> None:
        if self.st is not None:
            self.close_set(missing_se=True)
        if self.group is not None:
            self.close_group(missing_ge=True)
        version = el[8] if len(el) > 8 else ""
        control = el[6] if len(el) > 6 else ""
        group = {
            "control": control,
            "version": version,
            "sender": el[2] if len(el) > 2 else "",
            "receiver": el[3] if len(el) > 3 else "",
            "declared_sets": None,
            "sets": 0,
            "group_errors": [],
            "position": self.seg_no,
        }
        self.group = group
        self.groups.append(group)
        self.check_isa_version(version)
        if (el[1] if len(el) > 1 else "") != "BE":
            self.file_error(
                "GS01",
                f"functional group {control} is not benefit enrollment (expected BE)",
                el[1] if len(el) > 1 else "",
            )
            group["group_errors"].append("1")
        if EXCHANGE_834 in version:
            self.file_error(
                "GS08",
                f"functional group {control} is the exchange (marketplace) 834 ({version}), not "
                "an employer group's benefit enrollment: its loops are not read here",
                version,
            )
            group["group_errors"].append("2")
        elif not (version.startswith("005010X220") or version.startswith("004010X095")):
            group["guide_unknown"] = True  # judged at its first ST: see judge_guide

    def check_isa_version(self, version: str) -> None:
        """ISA12 should be the GS08 version's (00501 for 5010, 00401 for 4010); senders leave
        an older one (00200) in front of a 5010 group. Read as GS08 says, once per file."""
        isa12 = self.isa[12]
        wanted = version[:5] if version[:5] in ("00501", "00401") else None
        if wanted and isa12 != wanted and not self.isa_version_warned:
            self.isa_version_warned = True
            self.file_warning(
                "ISA12",
                f"the interchange version {isa12 or '(blank)'} does not match the group's "
                f"{version}: read as {version}",
                isa12,
                row="segment 1 of the file",
            )

    def judge_guide(self, group: dict, st01: str) -> None:
        """A GS08 that names neither 834 guide. Senders write another guide's id (or their
        own) there: the 834 is then known by its sets (ST01 834, and a layout the set's own
        checks hold to: BGN, sponsor and payer), and read with a warning. A group whose first
        set is not an 834 either is refused as before."""
        version = group["version"]
        if st01 == "834":
            self.file_warning(
                "GS08",
                f"functional group {group['control']}: GS08 names {version or 'no guide'}, not "
                f"{VERSION_5010} or {VERSION_4010}; its transaction sets say 834 (ST01) and are "
                "read as benefit enrollment",
                version,
                row=f"segment {group['position']} of the file",
            )
            return
        self.file_error(
            "GS08",
            f"functional group {group['control']}: expected version {VERSION_5010} or "
            f"{VERSION_4010}",
            version,
            at=group["position"],
        )
        group["group_errors"].append("2")

    def on_st(self, el: list[str]) -> None:
        if self.st is not None:
            self.close_set(missing_se=True)
        st01 = el[1] if len(el) > 1 else ""
        control = el[2] if len(el) > 2 else ""
        implementation = el[3] if len(el) > 3 else None
        group = self.group
        if group is not None and group.pop("guide_unknown", False):
            self.judge_guide(group, st01)
        self.st_base = self.seg_no - 1
        self.loop = "HEADER"
        self.ins_no = 0
        self.person = self.subscriber = None
        self.hd = self.cov = None
        if self.held:
            self.held = {}
        st = {
            "control": control,
            "group": group["control"] if group else None,
            "group_index": len(self.groups) - 1 if group else None,
            "implementation": implementation,
            "kind": None,
            "accepted": False,
            "errors": 0,
            "notes": [],
            "set_errors": [],
            "warned": False,
            "set_warnings": [],
            "subscribers": 0,
            "adds": 0,
            "dependents": 0,
            "qty": {},
            "is_834": st01 == "834",
            "bgn": 0,  # position of the BGN, 0 while none
            "sponsor": False,
            "payer": False,
            "first_ins": 0,
        }
        self.st = st
        self.sets.append(st)
        if group is None:
            self.error("ST", "the transaction set is not inside a GS functional group", ik4=None)
        else:
            group["sets"] += 1
        if st01 != "834":
            self.error("ST01", "expected transaction set 834 (benefit enrollment)", st01)
            st["set_errors"].append("1")
        elif implementation and EXCHANGE_834 in implementation:
            self.error(
                "ST03",
                f"the set is the exchange (marketplace) 834 ({implementation}), not an employer "
                "group's benefit enrollment: its loops are not read here",
                implementation,
            )
            st["set_errors"].append("1")

    def on_bgn(self, el: list[str]) -> None:
        st = self.st
        if st is None:
            self.file_error("BGN", "a BGN outside any ST transaction set")
            return
        st["bgn"] = self.pos
        created = self.date("BGN03", el[3] if len(el) > 3 else "")
        if created is not None and self.census.as_of is None:
            self.census.as_of = created
        code = el[8] if len(el) > 8 else ""
        if not code and len(el) > 7 and el[7] in KIND:
            code = el[7]
            self.warning(
                "BGN08",
                f"the action code sits in BGN07 and BGN08 is empty: read as BGN08 {code}",
                code,
                ik3="8",
                ik4="1",
            )
        kind = KIND.get(code)
        if kind is None:
            self.error(
                "BGN08",
                "expected 2 (a change file) or 4 / RX (a full file)",
                code,
                ik4="1" if not code else "7",
            )
            return
        st["kind"] = kind.value
        if self.census.kind is None:
            self.census.kind = kind
        elif self.census.kind is not kind:
            self.error(
                "BGN08",
                f"this transaction set is a {kind.value} but an earlier one is a "
                f"{self.census.kind.value}: one file is either a full file or a change file",
                code,
            )

    def on_qty(self, el: list[str]) -> None:
        if self.st is None or self.ins_no:
            return
        qualifier = el[1] if len(el) > 1 else ""
        value = el[2] if len(el) > 2 else ""
        if qualifier not in ("TO", "ET", "DT"):
            self.error("QTY01", "expected a control total TO, ET or DT", qualifier)
            return
        if not value.isdigit():
            self.error("QTY02", "expected a whole number of members", value, ik4="6")
            return
        self.st["qty"][qualifier] = (int(value), self.pos)

    def on_n1(self, el: list[str]) -> None:
        code = el[1] if len(el) > 1 else ""
        self.loop = _N1_LOOPS.get(code, self.loop)
        if code == "75":
            self.category = (el[2] if len(el) > 2 else "").upper()
            return
        if self.ins_no == 0 and code in ("P5", "IN", "BO", "TV"):
            st = self.st
            if st is not None:
                if code == "P5":
                    st["sponsor"] = True
                elif code == "IN":
                    st["payer"] = True
            key = {"P5": "sponsor", "IN": "payer", "BO": "broker", "TV": "administrator"}[code]
            self.census.detail.setdefault(
                key,
                {
                    "name": el[2] if len(el) > 2 else "",
                    "id_qualifier": el[3] if len(el) > 3 else "",
                    "id": el[4] if len(el) > 4 else "",
                },
            )

    def on_loop(self, loop: str):
        def enter(el: list[str]) -> None:
            self.loop = loop

        return enter

    def on_ls(self, el: list[str]) -> None:
        self.loop = "2700"
        self.category = ""

    def on_se(self, el: list[str]) -> None:
        if self.st is None:
            self.file_error("SE", "an SE trailer without its ST header")
            return
        declared = el[1] if len(el) > 1 else ""
        control = el[2] if len(el) > 2 else ""
        st = self.st
        self.close_family()
        self.check_totals()
        if not declared.isdigit() or int(declared) != self.pos:
            # A count that is off is a sender's slip (real feeds are off by one or two); a
            # file cut short has no trailer at all, which stays an error (close_set).
            self.warning(
                "SE01",
                f"the trailer counts {declared or 'no'} segments but {self.pos} were read: "
                "read as sent",
                declared,
            )
            st["warned"] = True
            st["set_warnings"].append("4")
        if control != st["control"]:
            self.error(
                "SE02",
                f"the trailer's control number should repeat ST02 {st['control']}",
                control,
                ik3=None,
            )
            st["set_errors"].append("3")
        self.close_set()

    def on_ge(self, el: list[str]) -> None:
        if self.st is not None:
            self.close_set(missing_se=True)
        group = self.group
        if group is None:
            self.file_error("GE", "a GE trailer without its GS header")
            return
        declared = el[1] if len(el) > 1 else ""
        control = el[2] if len(el) > 2 else ""
        if not declared.isdigit() or int(declared) != group["sets"]:
            self.file_error(
                "GE01",
                f"functional group {group['control']} declares {declared or 'no'} transaction "
                f"sets but has {group['sets']}: the file is truncated or was edited",
                declared,
            )
            group["group_errors"].append("5")
        if declared.isdigit():
            group["declared_sets"] = int(declared)
        if control != group["control"]:
            self.file_error(
                "GE02",
                f"the group trailer's control number should repeat GS06 {group['control']}",
                control,
            )
            group["group_errors"].append("4")
        self.group = None

    def on_iea(self, el: list[str]) -> bool:
        if self.st is not None:
            self.close_set(missing_se=True)
        if self.group is not None:
            self.close_group(missing_ge=True)
        declared = el[1] if len(el) > 1 else ""
        control = el[2] if len(el) > 2 else ""
        if not declared.isdigit() or int(declared) != len(self.groups):
            self.file_error(
                "IEA01",
                f"the interchange declares {declared or 'no'} functional groups but has "
                f"{len(self.groups)}",
                declared,
            )
        if control != self.isa[13]:
            self.file_error(
                "IEA02",
                f"the interchange trailer's control number should repeat ISA13 {self.isa[13]}",
                control,
            )
        self.ended = True
        return True

    def close_set(self, *, missing_se: bool = False) -> None:
        st = self.st
        if missing_se:
            self.close_family()
            self.check_totals()
            self.error(
                "SE",
                f"transaction set {st['control']} has no SE trailer: the file is truncated",
                ik3=None,
            )
            st["set_errors"].append("2")
        if st["is_834"]:
            self.check_layout(st)
        if st["errors"] and not st["set_errors"]:
            st["set_errors"].append("5")
        st["accepted"] = st["errors"] == 0
        self.st = None
        self.person = self.subscriber = None
        self.hd = self.cov = None
        self.loop = ""

    def check_layout(self, st: dict) -> None:
        """An employer group's benefit enrollment begins with a BGN (what the file is: change
        or full) and names its sponsor (N1*P5) and payer (N1*IN) before the members: a set
        without them was not written to the guide, and what it asks cannot be told."""
        where = st["first_ins"] or self.pos
        if not st["bgn"]:
            self.error(
                "BGN",
                "the transaction set has no BGN beginning segment: it does not say whether it "
                "is a change file or a full file, so it cannot be read as an 834",
                pos=2,
                segment="BGN",
                loop="HEADER",
                ik3="3",
                ik4=None,
            )
        for flag, code, words in (("sponsor", "P5", "sponsor"), ("payer", "IN", "payer")):
            if not st[flag]:
                self.error(
                    "N1",
                    f"the transaction set has no {words} loop (N1*{code}): an employer "
                    "group's benefit enrollment names its sponsor and its payer",
                    pos=where,
                    segment="N1",
                    loop="HEADER",
                    ik3="3",
                    ik4=None,
                )

    def close_group(self, *, missing_ge: bool) -> None:
        if missing_ge:
            self.file_error(
                "GE",
                f"functional group {self.group['control']} has no GE trailer: the file is "
                "truncated",
            )
            self.group["group_errors"].append("3")
        self.group = None

    def check_totals(self) -> None:
        st = self.st
        read = {
            "ET": st["subscribers"],
            "DT": st["dependents"],
            "TO": st["subscribers"] + st["dependents"],
        }
        words = {"ET": "subscribers", "DT": "dependents", "TO": "members"}
        for qualifier, (stated, pos) in st["qty"].items():
            if stated != read[qualifier]:
                self.error(
                    "QTY02",
                    f"the control total QTY*{qualifier} states {stated} {words[qualifier]} but "
                    f"the set has {read[qualifier]}: the file is truncated or incomplete",
                    str(stated),
                    pos=pos,
                    segment="QTY",
                    loop="HEADER",
                    ik4="I12",
                )

    def check_full_file_of_adds(self) -> None:
        """A full file (BGN08 4) whose every subscriber is an add (INS03 021) comes from a
        generator that did not follow the guide (a full file lists members as 030): read as a
        snapshot it would end everyone it leaves out, read as changes it is not what it says.
        Refused, every such set rejected in the 999."""
        full = [st for st in self.sets if st["kind"] == _SNAPSHOT.value]
        subscribers = sum(st["subscribers"] for st in full)
        if not subscribers or sum(st["adds"] for st in full) != subscribers:
            return
        first = full[0]
        self.errors.append(
            RowError(
                f"ST {first['control']}, segment {first['bgn']}",
                "BGN08",
                "a full file (BGN08 4) in which every subscriber is an add (INS03 021): its "
                "generator did not follow the guide (a full file lists members as 030); send "
                "adds in a change file (BGN08 2)",
                self.source,
                "4",
            )
        )
        for st in full:
            st["errors"] += 1
            st["notes"].append(
                {
                    "segment": "BGN",
                    "position": st["bgn"],
                    "loop": "",
                    "code": "8",
                    "element": 8,
                    "element_code": "7",
                }
            )
            if not st["set_errors"]:
                st["set_errors"].append("5")
            st["accepted"] = False
