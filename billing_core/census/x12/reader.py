"""The 834 reader itself: the class that reads a file segment by segment, built in layers
(census.x12.interchange, the envelope and the state of a read; .closing, the end of a member
loop; .members, the member loops), its run over the segments, and `read_834`.

The two segments that make up half a file (an HD with nothing to check, a DTP*348*D8 with a
valid date) are the same few strings over and over: each distinct one is read once and its
later copies applied in `run` without a split or a handler (`fast_spec`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from billing_core.census.rows import (
    CensusCoverage,
    CensusFile,
    ControlTotals,
    MemberColumns,
    clipped,
    collector_paused,
    share_equal_coverages,
)
from billing_core.census.x12.codes import HD_MAINTENANCE, LINES, MEDICAL, SNAPSHOT, TIERS
from billing_core.census.x12.columns import Declined, Layout, plain_layout, read_region
from billing_core.census.x12.loops import D303, HD01
from billing_core.census.x12.members import MemberLoops
from billing_core.errors import InterchangeHeaderUnreadable, RowError
from billing_core.models.enums import UploadFormat
from billing_core.money import D
from billing_core.x12_envelope import (
    Separators,
    chunks,
    decode,
    normalise_with_repairs,
    read_isa,
)
from billing_core.x12_envelope import split_interchange as _split_interchange

_log = logging.getLogger(__name__)

_ISA_WIDTH = 105  # "ISA" and 16 fixed-width elements with their separators, before the terminator

_UNREADABLE = (
    "the file could not be read past this point: its structure is not an 834 this reader "
    "understands (the problem was logged for the support team)"
)


# --- tokenizer: billing_core.x12_envelope, with the 834's words in its messages ---------------


def _read_isa(text: str) -> tuple[Separators, list[str]]:
    return read_isa(text, "X12 834")


def split_interchange(data: bytes | str) -> tuple[Separators, Iterator[list[str]]]:
    """The interchange's separators and its segments as element lists (ISA first). Raises
    ValueError when there is no usable ISA header."""
    return _split_interchange(data, "X12 834")


def segments(data: bytes | str) -> list[list[str]]:
    """Every segment of an interchange as its list of elements (element 0 is the segment id)."""
    return list(split_interchange(data)[1])


def _ignore(el: list[str]) -> None:
    """Segments the census does not need (PER, N3, LUI, COB details...)."""


class _Dispatch(dict):
    """Segment id -> handler; a segment id without one is ignored from then on."""

    def __missing__(self, key: str):
        self[key] = _ignore
        return _ignore


class _Reader(MemberLoops):
    """One read of one 834: the handlers of every segment read, and the run over them."""

    def __init__(self, source: str, *, columnar: bool = True):
        super().__init__(source)
        self.columnar = columnar
        self.fast: dict[str, object] = {}  # see read_segments
        self.handlers = _Dispatch(
            {
                "ISA": self.on_isa,
                "GS": self.on_gs,
                "ST": self.on_st,
                "BGN": self.on_bgn,
                "QTY": self.on_qty,
                "N1": self.on_n1,
                "INS": self.on_ins,
                "REF": self.on_ref,
                "DTP": self.on_dtp,
                "NM1": self.on_nm1,
                "N4": self.on_n4,
                "DMG": self.on_dmg,
                "ICM": self.on_icm,
                "HD": self.on_hd,
                "AMT": self.on_amt,
                "DSB": self.on_loop("2200"),
                "LX": self.on_loop("2310"),
                "COB": self.on_loop("2320"),
                "LS": self.on_ls,
                "LE": self.on_loop("2000"),
                "SE": self.on_se,
                "GE": self.on_ge,
                "IEA": self.on_iea,
            }
        )

    def check_isa(self, isa: list[str]) -> None:
        """The interchange header's own values: a nine-digit control number (ISA13), a date
        and time (ISA09 YYMMDD, ISA10 HHMM), who sends it to whom (ISA05-ISA08), production
        or test data (ISA15 P or T). A header that fails is not an interchange to apply."""
        isa = ["".join(value.split()) for value in isa]  # a line wrapped inside an element
        problems = []
        if not (len(isa[13]) == 9 and isa[13].isascii() and isa[13].isdigit()):
            problems.append(("ISA13", "the interchange control number must be nine digits"))
        stamp = isa[9] + isa[10]
        try:
            if len(isa[9]) != 6 or len(isa[10]) != 4 or not (stamp.isascii() and stamp.isdigit()):
                raise ValueError(stamp)
            date(2000 + int(stamp[:2]), int(stamp[2:4]), int(stamp[4:6]))
            if int(stamp[6:8]) > 23 or int(stamp[8:]) > 59:
                raise ValueError(stamp)
        except ValueError:
            problems.append(("ISA09", "the interchange date and time must be YYMMDD and HHMM"))
        for column, what in (("ISA06", "sender"), ("ISA08", "receiver")):
            index = int(column[3:])
            if not isa[index] or not isa[index - 1]:
                problems.append((column, f"the interchange {what} and its qualifier are missing"))
        if isa[15] not in ("P", "T"):
            problems.append(("ISA15", "the usage indicator must be P (production) or T (test)"))
        for column, message in problems:
            value = isa[int(column[3:])]
            self.file_error(column, message, clipped(value), at=1)

    def fast_spec(self, el: list[str]) -> tuple | date | None:
        """What `run` may apply to later copies of this segment without reading it again: for
        an HD whose codes are all known, the coverage's fields; for a DTP*348*D8 (and nothing
        after) the begin date once it is known valid; None for any other segment."""
        if el[0] == "HD":
            if len(el) < 6:
                return None
            maint, code, plan, level = el[1], el[3], el[4], el[5]
            line = LINES.get(code)
            tier = TIERS.get(level)
            if line is None or tier is None or maint not in HD_MAINTENANCE or ";" in plan:
                return None
            return (line, plan or None, tier, maint, code, level)
        if len(el) == 4 and el[1] == "348" and el[2] == "D8":
            return self.dates.get(el[3])  # None until parsed, and for a date that is not valid
        return None

    def run(self, data: bytes) -> CensusFile:
        text = decode(data)
        try:
            separators, isa = _read_isa(text)
        except InterchangeHeaderUnreadable as exc:
            self.file_error(exc.column, exc.message, exc.value, located=False)
            return self.census
        width = len(separators.element.join(isa))
        self.isa = isa = [value.strip() for value in isa]
        self.check_isa(isa)
        if width != _ISA_WIDTH:
            self.file_warning(
                "ISA",
                f"the ISA header is not fixed width ({width} characters before its "
                f"terminator, the standard's {_ISA_WIDTH}): read by its separators",
                str(width),
                row="segment 1 of the file",
            )
        detail = self.census.detail
        detail.update(
            {
                "interchange_control": isa[13],
                "sender_qualifier": isa[5],
                "sender_id": isa[6],
                "receiver_qualifier": isa[7],
                "receiver_id": isa[8],
                "usage": isa[15],
                "separators": {
                    "element": separators.element,
                    "component": separators.component,
                    "segment": separators.segment,
                    "repetition": separators.repetition,
                },
            }
        )
        body, term, repaired = normalise_with_repairs(text, separators)
        del text  # the body is what is read from here (a 70 MB file is 70 MB less at the peak)
        for line_no, segment in repaired:
            self.file_warning(
                segment[:3],
                f"the {segment[:3]} segment ends at the line break without its terminator "
                f"{separators.segment!r}: read as ended there",
                row=f"line {line_no} of the file",
            )
        sep = separators.element
        layout = plain_layout(body, sep, term) if self.columnar else None
        if layout is None:
            count = self.read_segments(chunks(body, term), 0, sep)
        else:
            # Envelope and header by the handlers; the member loops as columns when they are
            # plain (census.x12.columns), else by the handlers too; then the trailers.
            rest = layout.first_ins
            count = self.read_segments([layout.texts(0, rest)], 0, sep)
            if not self.ended and self.read_member_columns(layout, sep):
                rest = count = layout.se
            if not self.ended:
                count = self.read_segments([layout.texts(rest)], count, sep)
        self.seg_no = count
        if self.ended:
            start = body.find(term + "IEA" + sep)
            end = body.find(term, start + 1) if start >= 0 else -1
            rest = body[end + 1 :].strip() if end >= 0 else ""
            if rest:
                self.seg_no += 1
                self.after_end(rest.split(term, 1)[0].split(sep))
        if self.st is not None:
            self.close_set(missing_se=True)
        if self.group is not None:
            self.close_group(missing_ge=True)
        if not self.ended:
            self.file_error(
                "IEA", "the interchange has no IEA trailer: the file is truncated", located=False
            )
        self.finish()
        return self.census

    def read_segments(self, parts, count: int, sep: str) -> int:
        """Hand each segment of `parts` (lists of segment texts) to its handler, counting
        from `count`; the count read up to, stopping at the IEA."""
        handlers = self.handlers
        # The two segments that make up half a file, an HD with nothing to check and a
        # DTP*348*D8 with a valid date, are the same few strings over and over: each distinct
        # one is read once (`fast_spec`) and its later copies are applied here without a split
        # or a handler, doing exactly what on_hd / on_dtp would. Anything else, and any copy
        # met where its shortcut does not apply (a DTP outside an HD loop), goes to its handler.
        fast = self.fast
        fast_get = fast.get
        hd_tag, dtp_tag = "HD", "DTP"
        for chunk in parts:
            for seg in chunk:
                count += 1
                spec = fast_get(seg)
                if spec is not None:
                    if spec.__class__ is tuple:  # HD: see on_hd
                        line, plan, tier, maint, code, level = spec
                        self.cov = cov = CensusCoverage(line, plan, tier)
                        self.hd = hd = [cov, maint, code, level, count - self.st_base, False, None]
                        self.loop = "2300"
                        person = self.person
                        if person is not None:
                            person.coverages.append(hd)
                            if line is MEDICAL:
                                person.medical = True
                        continue
                    if self.loop == "2300":  # DTP*348*D8: see on_dtp
                        hd = self.hd
                        if hd[D303] is None or hd[HD01] != "001":
                            self.cov.effective_from = spec
                        continue
                el = seg.split(sep)
                self.seg_no = count
                if handlers[el[0]](el):
                    return count  # IEA: the interchange ends here
                if spec is None and (el[0] == hd_tag or el[0] == dtp_tag):
                    spec = self.fast_spec(el)
                    if spec is not None:
                        fast[seg] = spec
        return count

    def read_member_columns(self, layout: Layout, sep: str) -> bool:
        """Read the member loops of a plain full file as columns (census.x12.columns), and
        carry the reader's state on to the SE as the handlers would have left it; False,
        with nothing changed, when they are not plain."""
        st = self.st
        census = self.census
        if (
            st is None
            or not st["is_834"]
            or census.kind is not SNAPSHOT
            or st["kind"] != SNAPSHOT.value
            or self.person is not None
            or self.held
            or census.members
        ):
            return False
        try:
            region = read_region(layout, sep, st["control"])
        except Declined:
            return False
        census.members = region.members
        st["subscribers"] += region.subscribers
        st["dependents"] += region.dependents
        if not st["first_ins"]:
            st["first_ins"] = layout.first_ins + 1 - self.st_base
        self.ins_no = region.subscribers + region.dependents
        self.policy_numbers |= region.policy_numbers
        self.loop = region.loop
        self.person = self.subscriber = None
        self.hd = self.cov = None
        return True

    def finish(self) -> None:
        census, detail = self.census, self.census.detail
        self.check_full_file_of_adds()
        versions = [g["version"] for g in self.groups if g["version"]]
        detail["version"] = versions[0] if versions else None
        detail["group_control"] = self.groups[0]["control"] if self.groups else None
        detail["functional_groups"] = [
            {k: v for k, v in group.items() if k not in ("position", "guide_unknown")}
            for group in self.groups
        ]
        detail["transaction_sets"] = [
            {key: st[key] for key in ("control", "group", "group_index", "implementation", "kind")}
            | {
                "accepted": st["accepted"],
                "errors": st["errors"],
                "warned": st["warned"],
                "subscribers": st["subscribers"],
                "dependents": st["dependents"],
                "set_errors": st["set_errors"],
                "set_warnings": st["set_warnings"],
                "notes": st["notes"],
            }
            for st in self.sets
        ]
        detail["group_policy_numbers"] = sorted(self.policy_numbers - {""})
        detail["master_policy_numbers"] = sorted(self.master_policies - {""})
        if self.premiums:
            detail["reported_premiums"] = self.premiums
            total = sum((D(p["amount"]) for p in self.premiums), Decimal(0))
            self.file_warning(
                "AMT",
                f"the file states premiums (AMT*P3: {len(self.premiums)} figures, {total} in "
                "all): advisory, the portal bills from its own rates and the review compares "
                "them",
                row=None,
            )
        rows = census.rows
        if not isinstance(rows, MemberColumns):  # the columns share theirs already
            share_equal_coverages(rows)
        if not self.sets:
            self.file_error("ST", "the file has no 834 transaction set", located=False)
        elif not len(rows) and not self.errors:  # a period with no changes: legitimate
            self.file_warning("INS", "the file lists no members: it changes nothing", row=None)
        totals = [st["qty"] for st in self.sets]
        if totals and any(totals):

            def summed(qualifier: str) -> int | None:
                if all(qualifier in qty for qty in totals):
                    return sum(qty[qualifier][0] for qty in totals)
                return None

            census.control_totals = ControlTotals(employees=summed("ET"), dependents=summed("DT"))
            detail["control_total_members"] = summed("TO")


def read_834(data: bytes, source: str, *, columnar: bool = True) -> CensusFile:
    """Read an 834 (005010X220A1 or 004010X095A1) into the normalised census.

    `kind` is SNAPSHOT for a full file (BGN08 4 or RX) and CHANGE for a change file (BGN08 2);
    `as_of` is the first transaction set's creation date (BGN03). Salaries are annual dollars
    (Decimal, half-up to the cent), life volumes dollars, coverage end dates inclusive (a line
    cancelled from inception ends the day before it begins). Never raises for any bytes:
    every problem is in `errors` (the file changes nothing) or `warnings` (read as the sender
    meant it), and `detail["transaction_sets"]` says per ST02 whether the set was accepted
    (with the notes a 999 reports).

    A plain full file's members are read as columns (census.x12.columns: the same rows,
    built when asked for); `columnar=False` reads every file segment by segment (the tests
    compare the two)."""
    # The reader builds millions of small objects and frees none until the end: the cyclic
    # collector would rescan them again and again (a quarter of the time on 100,000
    # subscribers) to find nothing, so it is paused for the read (and what it built is then
    # handed to the oldest generation: see collector_paused).
    with collector_paused():
        reader = _Reader(source, columnar=columnar)
        try:
            return reader.run(data)
        except Exception:  # a file must never stop an upload: refuse it, and log the cause
            _log.exception("the 834 reader stopped at segment %s of %s", reader.seg_no, source)
            census = CensusFile(source=source, file_format=UploadFormat.X12_834)
            census.errors.append(
                RowError(f"segment {reader.seg_no} of the file", None, _UNREADABLE, source)
            )
            return census
