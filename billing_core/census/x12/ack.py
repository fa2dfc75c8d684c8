"""The 999 implementation acknowledgment (005010X231A1) that answers an 834 interchange, written
from what the reader recorded per transaction set in `CensusFile.detail["transaction_sets"]`.

Decision on warnings: a set read with tolerated deviations from the guide (an SE01 count that
is off, INS05 blank, REF*OF, codes one element late...) is accepted, and says so as IK5 `E`
("accepted, but errors were noted") with an IK3/IK4 note per deviation, so the sender learns
what to fix without its file being refused; a group whose sets are all accepted, some of them
with notes, gets AK9 `E`. Warnings that are not about the guide (an SSN never issued, a member
sent twice, a premium figure) are not the sender's syntax and are not noted. Sets with errors
are rejected (IK5 `R`) as before.
"""

from __future__ import annotations

from datetime import datetime

from billing_core.census.rows import CensusFile
from billing_core.errors import InterchangeHeaderUnreadable, ValidationFailed
from billing_core.x12_envelope import decode, read_isa

__all__ = ["ACK_VERSION", "acknowledgement_999"]

ACK_VERSION = "005010X231A1"


def acknowledgement_999(
    census_file: CensusFile,
    data: bytes,
    *,
    control_number: int | None = None,
    now: datetime | None = None,
) -> str:
    """The 999 implementation acknowledgment (005010X231A1) answering the interchange `data`
    that `census_file` was read from: one ST*999 per functional group, with AK2/IK5 per 834
    transaction set (A accepted, E accepted with deviations noted, R rejected), IK3/IK4 for
    each located error or noted deviation and AK9 (A, E, P partially accepted, R). Written
    with the received file's separators and line breaks.

    A 4010 file is answered with a 999 too (decision: one acknowledgment format to maintain;
    AK1 quotes the 4010 version and AK2 has no AK203 since 4010 sets carry no ST03). The
    interchange and group control numbers default to the received ISA13 (the answer travels
    the other way, so it does not collide with the sender's numbering); pass `control_number`
    to use our own sequence. Raises ValidationFailed when `data` has no usable ISA header."""
    text = decode(data)
    try:
        separators, isa = read_isa(text, "X12 834")
    except InterchangeHeaderUnreadable as exc:
        raise ValidationFailed(f"cannot acknowledge this file: {exc.message}") from None
    isa = [value.strip() for value in isa]
    e, c = separators.element, separators.component
    terminator = separators.segment + separators.suffix
    repetition = separators.repetition or next(
        ch for ch in "^!|{}" if ch not in (e, c, separators.segment)
    )
    now = now or datetime.now()
    if control_number is None:
        control_number = int(isa[13]) if isa[13].isdigit() else 1
    detail = census_file.detail
    sets = detail.get("transaction_sets", [])
    out: list[list[str]] = [
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            isa[7] or "ZZ",
            isa[8].ljust(15)[:15],
            isa[5] or "ZZ",
            isa[6].ljust(15)[:15],
            now.strftime("%y%m%d"),
            now.strftime("%H%M"),
            repetition,
            "00501",
            f"{control_number:09d}",
            "0",
            isa[15] if isa[15] in ("P", "T") else "P",
            c,
        ],
        [
            "GS",
            "FA",
            "",
            "",
            now.strftime("%Y%m%d"),
            now.strftime("%H%M"),
            str(control_number),
            "X",
            ACK_VERSION,
        ],
    ]
    groups = detail.get("functional_groups", [])
    if groups:
        out[1][2], out[1][3] = groups[0]["receiver"], groups[0]["sender"]
    for index, group in enumerate(groups):
        st_control = f"{index + 1:04d}"
        body = [
            ["ST", "999", st_control, ACK_VERSION],
            ["AK1", "BE", group["control"], group["version"]],
        ]
        members = [st for st in sets if st["group_index"] == index]
        accepted = noted = 0
        for st in members:
            ak2 = ["AK2", "834", st["control"]]
            if st.get("implementation"):
                ak2.append(st["implementation"])
            body.append(ak2)
            for note in st["notes"]:
                loop = "" if note["loop"] in ("", "HEADER") else note["loop"]
                body.append(["IK3", note["segment"], str(note["position"]), loop, note["code"]])
                if "element" in note:
                    body.append(["IK4", str(note["element"]), "", note["element_code"]])
            if st["accepted"]:
                accepted += 1
                if st.get("warned"):
                    noted += 1
                    body.append(["IK5", "E", *st.get("set_warnings", [])[:5]])
                else:
                    body.append(["IK5", "A"])
            else:
                body.append(["IK5", "R", *(st["set_errors"] or ["5"])[:5]])
        group_errors = group["group_errors"]
        received = len(members)
        if group_errors or accepted == 0:
            code = "R"
        elif accepted == received:
            code = "E" if noted else "A"
        else:
            code = "P"
        declared = group["declared_sets"] if group["declared_sets"] is not None else received
        body.append(["AK9", code, str(declared), str(received), str(accepted), *group_errors[:5]])
        body.append(["SE", str(len(body) + 1), st_control])
        out.extend(body)
    out.append(["GE", str(len(groups)), str(control_number)])
    out.append(["IEA", "1", f"{control_number:09d}"])
    return "".join(_trim(segment, e) + terminator for segment in out)


def _trim(elements: list[str], sep: str) -> str:
    """A segment without trailing empty elements (X12 forbids trailing separators)."""
    while len(elements) > 1 and elements[-1] == "":
        elements = elements[:-1]
    return sep.join(elements)
