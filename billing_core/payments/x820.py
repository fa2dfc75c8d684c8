"""ANSI X12 820 premium payments (005010X218, and 004010X061A1 which has the same loops) read
into a RemittanceFile: each transaction set (ST/SE, one BPR) is one RemittanceItem, its
organisation-level RMRs the invoices paid, its member-level RMRs the premium per member.

The envelope (ISA separators, segment splitting, BOM, `~`/newline terminators) is
billing_core.x12_envelope, shared with the 834 reader. Segments read:
BPR payment (BPR01 C payment and advice, I advice only (money travels separately), D payment
only; BPR02 amount; BPR03 C credit; BPR04 ACH/BOP/CHK/FWT; BPR16 effective date), TRN trace
(TRN02 trace number, TRN03 originating company), CUR currency, REF*38 master policy = our
group number, DTM*582 coverage period (RD8 range or D8 date), N1*PR payer (name, id) and
N1*PE payee; ENT 2L an organisation loop (ENT04 the group, else a subgroup code unless ENT03
FI is the payer's tax id; REF*DX/17 a subgroup, REF*1L/38 the group, N1 in the loop its
subgroup id), ENT 2J a member loop (ENT03 EI/ZZ/N: ENT04 the employee id; NM1*IL/EY/QE the name
and NM108 EI/ZZ/N id; REF*0F/ZZ/EI the employee id; a social security number (34) is never
kept); RMR (RMR01 IK invoice number (IV accepted too), 1L group or policy, 11 account, AZ/B7/
CT/ID/IG/KW/9J a policy or plan number; RMR04 paid, RMR05 billed) followed by its DTM*582;
ADX adjustments (ADX01 signed amount); SE/GE/IEA control counts and numbers.

Decisions: the invoices paid are the organisation-level RMR IK lines; with member detail only,
they are the member lines summed per invoice. BPR02 must equal the RMR04 lines (organisation
level, else member level) plus the ADX adjustments. The item key is the originator (TRN03,
else the payer's N104, else ISA06) and the trace number (TRN02): the same 820 imported twice
gives the same key, a different trace a different one. A debit (BPR03 D), a prenotification
(BPR01 P) or a non-payment (BPR04 NON) is noted, not imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from billing_core.errors import RemittanceFileError, RowError
from billing_core.models.enums import PaymentMethod
from billing_core.money import ZERO, D, cents
from billing_core.payments.remittance import (
    InvoiceRef,
    MemberRemittance,
    RemittanceFile,
    RemittanceItem,
    find_references,
    make_item_key,
    parse_dollars,
)
from billing_core.x12_envelope import split_interchange

__all__ = ["VERSIONS", "read_820"]

FORMAT = "x12_820"
VERSIONS = ("005010X218", "004010X061")
_METHODS = {
    "ACH": PaymentMethod.ACH_CREDIT,
    "BOP": PaymentMethod.ACH_CREDIT,  # financial institution option: the bank sent it by ACH
    "CHK": PaymentMethod.CHECK,
    "FWT": PaymentMethod.WIRE,
}
_INVOICE_QUALIFIERS = {"IK", "IV"}
_PLAN_QUALIFIERS = {"AZ", "B7", "CT", "ID", "IG", "KW", "9J", "POL"}
_MEMBER_ID_QUALIFIERS = {"EI", "ZZ", "N"}
_GROUP_SCHEME = re.compile(r"G-?\d{4,6}")


@dataclass
class _Member:
    member_id: str | None = None
    name: str | None = None
    lines: list[dict] = field(default_factory=list)


@dataclass
class _Set:
    control: str
    first_segment: int
    bpr: list[str] | None = None
    bpr_segment: int = 0
    trn: list[str] | None = None
    payer_name: str | None = None
    payer_id: str | None = None
    group_number: str | None = None  # REF*38
    period: tuple[date | None, date | None] = (None, None)
    org_groups: list[str] = field(default_factory=list)
    org_subgroups: list[str] = field(default_factory=list)
    org_lines: list[dict] = field(default_factory=list)  # RMR at organisation level
    members: list[_Member] = field(default_factory=list)
    adjustments: Decimal = ZERO
    loop: str = "header"  # header, org, member
    last_line: dict | None = None  # the RMR a following DTM*582 dates
    errors: int = 0


def read_820(data: bytes, filename: str) -> RemittanceFile:
    """Read an X12 820 premium payment file (bytes as received; `filename` names it in every
    error). Each transaction set becomes one RemittanceItem: BPR02 in dollars (whole cents,
    Decimal) received on BPR16, with the invoices (RMR04 paid, RMR05 billed) and the member
    premiums it lists. Every problem is in `errors`; raises RemittanceFileError when the file
    has no usable ISA interchange header."""
    try:
        separators, segments = split_interchange(data, "X12 820")
    except ValueError as exc:
        raise RemittanceFileError(
            f"{filename}: {exc}", [RowError(1, "ISA", str(exc), filename)]
        ) from None
    return _Reader(filename, separators.component).run(segments)


class _Reader:
    def __init__(self, source: str, component: str):
        self.source = source
        self.component = component
        self.errors: list[RowError] = []
        self.notes: list[str] = []
        self.items: list[RemittanceItem] = []
        self.controls: dict[str, str] = {}
        self.seg_no = 0
        self.isa: list[str] = []
        self.created_on: date | None = None
        self.group: dict | None = None
        self.groups = 0
        self.st: _Set | None = None
        self.ended = False
        self.keys: set[str] = set()

    # -- errors -------------------------------------------------------------------------------

    def where(self) -> str:
        if self.st is None:
            return f"segment {self.seg_no}"
        return f"ST {self.st.control}, segment {self.seg_no - self.st.first_segment + 1}"

    def error(self, column: str | None, message: str, value: str | None = None) -> None:
        self.errors.append(RowError(self.where(), column, message, self.source, value))
        if self.st is not None:
            self.st.errors += 1

    # -- the run ------------------------------------------------------------------------------

    def run(self, segments) -> RemittanceFile:
        handlers = {
            "ISA": self.on_isa,
            "GS": self.on_gs,
            "ST": self.on_st,
            "BPR": self.on_bpr,
            "TRN": self.on_trn,
            "CUR": self.on_cur,
            "REF": self.on_ref,
            "DTM": self.on_dtm,
            "N1": self.on_n1,
            "ENT": self.on_ent,
            "NM1": self.on_nm1,
            "RMR": self.on_rmr,
            "ADX": self.on_adx,
            "SE": self.on_se,
            "GE": self.on_ge,
            "IEA": self.on_iea,
        }
        for el in segments:
            self.seg_no += 1
            el = [value.strip() for value in el]
            if self.ended:
                self.error(el[0], "segments follow the IEA interchange trailer")
                break
            handler = handlers.get(el[0])
            if handler is not None:
                handler(el + [""] * 20)  # absent trailing elements read as empty
        if self.st is not None:
            self.error("SE", f"transaction set {self.st.control} has no SE trailer: cut short")
            self.close_set()
        if self.group is not None:
            self.error("GE", f"functional group {self.group['control']} has no GE trailer")
        if not self.ended:
            self.error("IEA", "the interchange has no IEA trailer: the file was cut short")
        return RemittanceFile(
            format=FORMAT,
            source=self.source,
            items=tuple(self.items),
            file_id=self.controls.get("ISA13") or None,
            sender_id=self.controls.get("ISA06") or None,
            created_on=self.created_on,
            control_numbers=self.controls,
            control_totals={"payments": sum((i.amount for i in self.items), ZERO)},
            notes=tuple(self.notes),
            errors=self.errors,
        )

    # -- envelope -----------------------------------------------------------------------------

    def on_isa(self, el: list[str]) -> None:
        if self.isa:
            self.error("ISA", "a second ISA inside the interchange: one interchange per file")
            return
        self.isa = el
        self.controls.update({"ISA06": el[6], "ISA08": el[8], "ISA13": el[13]})
        self.created_on = _date(el[9], "%y%m%d")

    def on_gs(self, el: list[str]) -> None:
        if self.st is not None:
            self.error("SE", f"transaction set {self.st.control} has no SE trailer")
            self.close_set()
        self.group = {"control": el[6], "sets": 0}
        self.groups += 1
        self.controls.setdefault("GS06", el[6])
        self.created_on = _date(el[4], "%Y%m%d") or self.created_on
        if el[1] != "RA":
            self.error("GS01", "expected functional group RA (premium payment / remittance)", el[1])
        if not el[8].startswith(VERSIONS):
            self.error("GS08", f"expected version {' or '.join(VERSIONS)}", el[8])

    def on_st(self, el: list[str]) -> None:
        if self.st is not None:
            self.error("SE", f"transaction set {self.st.control} has no SE trailer")
            self.close_set()
        self.st = _Set(el[2], self.seg_no)
        self.controls.setdefault("ST02", el[2])
        if self.group is None:
            self.error("ST", "the transaction set is not inside a GS functional group")
        else:
            self.group["sets"] += 1
        if el[1] != "820":
            self.error("ST01", "expected transaction set 820 (premium payment)", el[1])

    def on_se(self, el: list[str]) -> None:
        st = self.st
        if st is None:
            self.error("SE", "an SE trailer without its ST header")
            return
        read = self.seg_no - st.first_segment + 1
        if not el[1].isdigit() or int(el[1]) != read:
            self.error(
                "SE01",
                f"the trailer counts {el[1] or 'no'} segments but {read} were read: the file "
                "was cut short or edited",
                el[1],
            )
        if el[2] != st.control:
            self.error(
                "SE02", f"the trailer's control number should repeat ST02 {st.control}", el[2]
            )
        self.close_set()

    def on_ge(self, el: list[str]) -> None:
        if self.st is not None:
            self.error("SE", f"transaction set {self.st.control} has no SE trailer")
            self.close_set()
        group = self.group
        if group is None:
            self.error("GE", "a GE trailer without its GS header")
            return
        if not el[1].isdigit() or int(el[1]) != group["sets"]:
            self.error(
                "GE01",
                f"functional group {group['control']} declares {el[1] or 'no'} transaction sets "
                f"but has {group['sets']}: the file was cut short or edited",
                el[1],
            )
        if el[2] != group["control"]:
            self.error("GE02", f"the group trailer should repeat GS06 {group['control']}", el[2])
        self.group = None

    def on_iea(self, el: list[str]) -> None:
        if self.group is not None:
            self.error("GE", f"functional group {self.group['control']} has no GE trailer")
            self.group = None
        if not el[1].isdigit() or int(el[1]) != self.groups:
            self.error(
                "IEA01",
                f"the interchange declares {el[1] or 'no'} functional groups but has {self.groups}",
                el[1],
            )
        if el[2] != self.controls.get("ISA13"):
            self.error(
                "IEA02",
                f"the interchange trailer should repeat ISA13 {self.controls.get('ISA13')}",
                el[2],
            )
        self.ended = True

    # -- header -------------------------------------------------------------------------------

    def in_set(self, segment: str) -> _Set | None:
        if self.st is None:
            self.error(segment, f"a {segment} segment outside an ST/SE transaction set")
        return self.st

    def on_bpr(self, el: list[str]) -> None:
        st = self.in_set("BPR")
        if st is None:
            return
        if st.bpr is not None:
            self.error("BPR", "a second BPR: one payment per transaction set (ST/SE)")
            return
        st.bpr, st.bpr_segment = el, self.seg_no

    def on_trn(self, el: list[str]) -> None:
        st = self.in_set("TRN")
        if st is not None and st.trn is None:
            st.trn = el

    def on_cur(self, el: list[str]) -> None:
        st = self.in_set("CUR")
        if st is not None and el[2] and el[2] != "USD":
            self.error("CUR02", "only payments in US dollars (USD) can be imported", el[2])

    def on_n1(self, el: list[str]) -> None:
        st = self.in_set("N1")
        if st is None:
            return
        if st.loop == "org":
            if el[4] and el[3] != "FI":
                self.org_code(st, el[4])
            return
        st.loop = "header"
        if el[1] == "PR":
            st.payer_name = el[2] or None
            st.payer_id = el[4] or None

    def on_ref(self, el: list[str]) -> None:
        st = self.in_set("REF")
        if st is None or not el[2]:
            return
        qualifier, value = el[1], el[2]
        if st.loop == "header":
            if qualifier == "38":
                st.group_number = value.upper()
        elif st.loop == "org":
            if qualifier in ("1L", "38"):
                st.org_groups.append(value.upper())
            elif qualifier in ("DX", "17", "ZZ"):
                st.org_subgroups.append(value.upper())
        elif st.loop == "member":
            member = st.members[-1]
            if qualifier in ("0F", "ZZ", "EI") and member.member_id is None:
                member.member_id = value

    def on_dtm(self, el: list[str]) -> None:
        st = self.in_set("DTM")
        if st is None or el[1] != "582":
            return
        period = self.period(el)
        if period is None:
            return
        if st.last_line is not None:
            st.last_line["period"] = period
        elif st.loop == "header":
            st.period = period

    def period(self, el: list[str]) -> tuple[date | None, date | None] | None:
        if el[5] == "RD8":
            start, _, end = el[6].partition("-")
            first, last = _date(start, "%Y%m%d"), _date(end, "%Y%m%d")
            if first is None or last is None or last < first:
                self.error("DTM06", "expected the coverage period as CCYYMMDD-CCYYMMDD", el[6])
                return None
            return first, last
        text = el[2] or (el[6] if el[5] == "D8" else "")
        day = _date(text, "%Y%m%d")
        if day is None:
            self.error("DTM02", "expected the coverage date as CCYYMMDD (or DTM05 RD8)", text)
            return None
        return day, None

    # -- loops --------------------------------------------------------------------------------

    def on_ent(self, el: list[str]) -> None:
        st = self.in_set("ENT")
        if st is None:
            return
        st.last_line = None
        if el[2] == "2J":
            st.loop = "member"
            member = _Member()
            if el[3] in _MEMBER_ID_QUALIFIERS and el[4]:
                member.member_id = el[4]
            st.members.append(member)
        elif el[2] == "2L" or not el[2]:
            st.loop = "org"
            if el[4] and el[3] != "FI":
                self.org_code(st, el[4])
        else:
            self.error("ENT02", "expected 2L (an organisation) or 2J (a member)", el[2])
            st.loop = "org"

    def org_code(self, st: _Set, code: str) -> None:
        code = code.upper()
        if code == st.group_number or _GROUP_SCHEME.fullmatch(code):
            st.org_groups.append(_canonical(code))
        else:
            st.org_subgroups.append(code)

    def on_nm1(self, el: list[str]) -> None:
        st = self.in_set("NM1")
        if st is None or st.loop != "member":
            return
        member = st.members[-1]
        if el[1] in ("IL", "EY", "QE"):
            parts = [el[4], el[5], el[3]] if el[2] != "2" else [el[3]]
            member.name = " ".join(p for p in parts if p) or member.name
            if el[8] in _MEMBER_ID_QUALIFIERS and el[9] and member.member_id is None:
                member.member_id = el[9]

    def on_rmr(self, el: list[str]) -> None:
        st = self.in_set("RMR")
        if st is None:
            return
        paid = self.amount("RMR04", el[4], required=True)
        billed = self.amount("RMR05", el[5], required=False) if el[5] else None
        if not el[1] or not el[2]:
            self.error("RMR01", "expected a reference qualifier and number (RMR01, RMR02)")
            return
        line = {"qualifier": el[1], "ref": el[2].upper(), "paid": paid, "billed": billed}
        line["period"] = None
        if st.loop == "member":
            st.members[-1].lines.append(line)
        else:
            st.loop = "org"  # an RMR before any ENT is read as the organisation's
            st.org_lines.append(line)
        st.last_line = line

    def on_adx(self, el: list[str]) -> None:
        st = self.in_set("ADX")
        if st is None:
            return
        amount = self.amount("ADX01", el[1], required=True, signed=True)
        if amount is not None:
            st.adjustments += amount

    def amount(
        self, column: str, text: str, *, required: bool, signed: bool = True
    ) -> Decimal | None:
        if not text:
            if required:
                self.error(column, "expected an amount in dollars")
            return None
        try:
            value = D(text)
        except ValueError:
            self.error(column, "expected an amount in dollars, e.g. 1250.00", text)
            return None
        if cents(value) != value:
            self.error(column, "expected whole cents (at most two decimal places)", text)
            return None
        if value < 0 and not signed:
            self.error(column, "expected a positive amount", text)
            return None
        return cents(value)

    # -- the item -----------------------------------------------------------------------------

    def close_set(self) -> None:
        st = self.st
        try:
            self.build(st)
        finally:
            self.st = None

    def build(self, st: _Set) -> None:
        where = f"ST {st.control}"
        bpr = st.bpr
        if bpr is None:
            self.error("BPR", f"transaction set {st.control} has no BPR payment segment")
            return
        at = f"{where}, segment {st.bpr_segment - st.first_segment + 1}"

        def bpr_error(column: str, message: str, value: str | None = None) -> None:
            self.errors.append(RowError(at, column, message, self.source, value))

        handling, flag, method_code = bpr[1], bpr[3], bpr[4]
        if handling == "P" or method_code == "NON":
            self.notes.append(f"{where}: no money moves (BPR01 {handling}, BPR04 {method_code})")
            return
        if flag == "D":
            self.notes.append(f"{where}: a debit (BPR03 D) is not a premium received")
            return
        problems = len(self.errors)
        try:
            amount = parse_dollars(bpr[2])
        except ValueError as exc:
            bpr_error("BPR02", str(exc), bpr[2])
            amount = None
        if flag != "C":
            bpr_error("BPR03", "expected C (a credit to us)", flag)
        method = _METHODS.get(method_code)
        if method is None:
            bpr_error("BPR04", "expected ACH, BOP, CHK or FWT", method_code)
        received_on = _date(bpr[16], "%Y%m%d")
        if received_on is None:
            bpr_error("BPR16", "expected the payment's effective date as CCYYMMDD", bpr[16])
        trace = st.trn[2] if st.trn else ""
        if not trace:
            bpr_error("TRN02", f"transaction set {st.control} has no TRN trace number")
        if len(self.errors) > problems:
            return
        originator = (st.trn[3] if st.trn else "") or st.payer_id or self.controls.get("ISA06")
        key = make_item_key(FORMAT, originator, trace)
        if key in self.keys:
            bpr_error("TRN02", "the same trace number is in an earlier transaction set", trace)
            return
        self.keys.add(key)

        members = self.member_detail(st)
        invoice_refs = [
            InvoiceRef(line["ref"], line["paid"], line["billed"])
            for line in st.org_lines
            if line["qualifier"] in _INVOICE_QUALIFIERS and line["paid"] is not None
        ]
        if not st.org_lines:
            invoice_refs = _invoices_from_members(members)
        detail_lines = st.org_lines or [line for m in st.members for line in m.lines]
        if detail_lines:
            detail = sum((line["paid"] or ZERO for line in detail_lines), ZERO)
            if detail + st.adjustments != amount:
                adjusted = (
                    f" and {st.adjustments:,.2f} of ADX adjustments" if st.adjustments else ""
                )
                level = "organisation" if st.org_lines else "member"
                bpr_error(
                    "BPR02",
                    f"the payment is {amount:,.2f} but the {level}-level RMR04 amounts add up to "
                    f"{detail:,.2f}{adjusted}",
                    bpr[2],
                )
        account_refs = [line["ref"] for line in st.org_lines if line["qualifier"] in ("1L", "38")]
        refs = find_references(" ".join(ref.invoice_number for ref in invoice_refs))
        group_number = (
            st.group_number
            or _single(st.org_groups)
            or (_canonical(account_refs[0]) if account_refs else None)
            or refs.group_number
        )
        subgroup = _single(st.org_subgroups) or (
            refs.subgroup_code if refs.group_number == group_number else None
        )
        if handling == "I":
            self.notes.append(
                f"{where}: remittance advice only (BPR01 I): trace {trace} of {amount:,.2f} "
                "comes through the bank separately"
            )
        self.items.append(
            RemittanceItem(
                item_key=key,
                source_line=st.bpr_segment,
                amount=amount,
                received_on=received_on,
                method=method,
                reference=trace,
                payer_name=st.payer_name,
                group_number=group_number,
                subgroup_code=subgroup,
                invoice_refs=tuple(invoice_refs),
                member_detail=members,
                advice_only=handling == "I",
            )
        )

    def member_detail(self, st: _Set) -> tuple[MemberRemittance, ...]:
        start, end = st.period
        detail = []
        for member in st.members:
            for line in member.lines:
                if line["paid"] is None:
                    continue
                first, last = line["period"] or (start, end)
                qualifier = line["qualifier"]
                detail.append(
                    MemberRemittance(
                        member_id=member.member_id,
                        name=member.name,
                        amount=line["paid"],
                        coverage_start=first,
                        coverage_end=last,
                        plan_code=line["ref"] if qualifier in _PLAN_QUALIFIERS else None,
                        invoice_number=line["ref"] if qualifier in _INVOICE_QUALIFIERS else None,
                        amount_billed=line["billed"],
                    )
                )
        return tuple(detail)


def _invoices_from_members(members: tuple[MemberRemittance, ...]) -> list[InvoiceRef]:
    """Member lines summed per invoice, when the 820 has no organisation-level RMR."""
    paid: dict[str, Decimal] = {}
    billed: dict[str, Decimal | None] = {}
    for m in members:
        if m.invoice_number is None:
            continue
        paid[m.invoice_number] = paid.get(m.invoice_number, ZERO) + m.amount
        if m.amount_billed is None:
            billed[m.invoice_number] = None
        elif billed.get(m.invoice_number, ZERO) is not None:
            billed[m.invoice_number] = billed.get(m.invoice_number, ZERO) + m.amount_billed
    return [InvoiceRef(number, paid[number], billed.get(number)) for number in paid]


def _single(values: list[str]) -> str | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _canonical(code: str) -> str:
    match = re.fullmatch(r"G-?(\d{4,6})", code)
    return f"G-{match.group(1)}" if match else code


def _date(text: str, fmt: str) -> date | None:
    try:
        return datetime.strptime(text, fmt).date() if text else None
    except ValueError:
        return None
