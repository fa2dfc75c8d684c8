"""The member loops of a plain full 834 read straight into columns (census.rows.MemberColumns),
a layer of its reader (census.x12.reader) beside the segment-by-segment handlers: the
subscribers' fields one array each, their coverages as shapes shared by the rows that have the
same lines, and a member's object (with its dependents) built only when something asks for it,
as the tabular reader does. A 100,000-subscriber full file is some 3 million segments: read
one by one they cost about 2.5 µs each; here the segments are classified and grouped in
numpy, and each distinct segment text (an HD, a DTP*348, a REF*DX...) is read once.

Plain means what the handlers would read without a single problem, so that the columns are
exactly what they would build: one interchange, one functional group and one transaction set
of a full file (BGN08 4 or RX), every INS an audit (030) of the common shape (INS01 Y with
INS02 18, or N with a known relationship; no death), every HD an audit (030) of a known line
and coverage level, names, SSNs, dates and amounts as the guide writes them, no loop the
handlers treat apart (2200, 2310-2330, 2700/2750), no premiums stated (AMT*P3), each member
with its REF*0F (once) and one NM1*IL, and no employee twice. Anything else (a change file,
a warning, an error, several sets) is read by the handlers, segment by segment, as before:
`read_member_columns` decides before it changes anything, so a file it declines is read
exactly as it always was. A member's row, built, is the same object the handlers build:
tests/unit/census/test_census_834_columns.py reads files both ways and compares them whole.

Decisions: the text must encode as Latin-1 (a position in the bytes is then a position in the
text: numpy finds the segments); the handlers read a file with other characters. The member
region's segments are never all made into strings: most are copies (an HD or a DTP*348 the
same for thousands of members), so each tag's segments are told apart by their bytes in numpy
(`Segments.distinct`) and only one text per distinct segment is cut from the file; the names
(NM1), nearly all distinct, are cut one by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pandas as pd

from billing_core.census.rows import (
    TEXT_LIMITS,
    CensusCoverage,
    CensusDependent,
    CensusMember,
    MemberColumns,
    distinct_rows,
)
from billing_core.census.x12.codes import (
    AUDIT,
    BENEFIT_STATUS,
    COBRA,
    DEFAULT_WEEKLY_HOURS,
    EMPLOYMENT_STATUS,
    GENDERS,
    LINES,
    NM1_LOOPS,
    PERIODS_PER_YEAR,
    RELATIONSHIPS,
    RETIREE,
    TERMINATED,
    TIERS,
    VOLUME_LINES,
)
from billing_core.census.x12.tolerance import open_ended, ssn_problem
from billing_core.models.enums import Gender, MemberStatus
from billing_core.money import D, cents

# The segment ids the reader has a handler for; every other id is ignored by the handlers
# (PER, N3, LUI, HLH...), so it is ignored here too.
_TAGS = (
    "ISA", "GS", "ST", "BGN", "QTY", "N1", "INS", "REF", "DTP", "NM1", "N4", "DMG", "ICM",
    "HD", "AMT", "DSB", "LX", "COB", "LS", "LE", "SE", "GE", "IEA",
)  # fmt: skip
_T = {tag: number for number, tag in enumerate(_TAGS)}
# Segments that end, open or leave the member loops the columns read: never in the region.
_OUTSIDE = [_T[tag] for tag in ("ISA", "GS", "ST", "BGN", "QTY", "N1", "DSB", "LX", "COB")]
_OUTSIDE += [_T[tag] for tag in ("LS", "LE", "SE", "GE", "IEA")]
_OTHER = len(_TAGS)  # an id without a handler
# Segments up to this long are told apart by their bytes (`Segments.distinct`); a tag with a
# longer one is told apart as texts (pandas), as any tag was before.
_WIDEST = 64

# The loops the region's segments can be in, as codes (what the handlers keep as text).
_L2000, _L2300, _L2100A, _L2100X = range(4)


class Declined(Exception):
    """The member loops are not plain: the handlers read them."""


@dataclass
class Layout:
    """A file whose envelope is one ISA/GS/ST...SE/GE/IEA with member loops between: `tags`
    each segment's id number (see _TAGS), the member region `first_ins` to `se` (the SE's
    index); `body` the text read, `buf` its bytes (Latin-1, zero-padded by at least `_WIDEST`),
    each segment at `starts` for `lengths` characters (its terminator not included)."""

    body: str
    term: str
    buf: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    tags: np.ndarray
    first_ins: int
    se: int

    def texts(self, start: int, stop: int | None = None) -> list[str]:
        """The texts of segments `start` to `stop` (default: to the last), as the handlers'
        `chunks` give them."""
        stop = len(self.tags) if stop is None else stop
        if start >= stop:
            return []
        end = int(self.starts[stop - 1] + self.lengths[stop - 1])
        return self.body[int(self.starts[start]) : end].split(self.term)


def plain_layout(body: str, sep: str, term: str) -> Layout | None:
    """The file's segments and where its member loops are, when its envelope has the one
    shape the columns read (else None: the handlers read it all)."""
    if len(sep) != 1 or len(term) != 1 or sep == term:
        return None
    size = len(body) - 1 if body.endswith(term) else len(body)
    try:
        raw = body.encode("latin-1")
    except UnicodeEncodeError:
        return None
    buf = np.frombuffer(raw + bytes(_WIDEST + 8), dtype=np.uint8)
    del raw
    ends = np.flatnonzero(buf[:size] == ord(term)).astype(np.int32)
    starts = np.concatenate((np.zeros(1, dtype=np.int32), ends + 1))
    lengths = np.concatenate((ends, np.array([size], dtype=np.int32))) - starts
    del ends
    c0, c1, c2, c3 = (buf[starts + k].astype(np.int32) for k in range(4))
    sep_byte = ord(sep)
    two = (lengths >= 2) & ((lengths == 2) | (c2 == sep_byte))
    three = ~two & (lengths >= 3) & ((lengths == 3) | (c3 == sep_byte))
    del c3
    short = c0 * 256 + c1
    del c0, c1
    key = np.where(two, short, np.where(three, short * 256 + c2 + (1 << 30), -1))
    del two, three, short, c2
    known = np.array([_tag_key(tag) for tag in _TAGS], dtype=np.int32)
    order = np.argsort(known)
    at = np.clip(np.searchsorted(known[order], key), 0, len(known) - 1)
    tags = np.where(known[order][at] == key, order[at], _OTHER).astype(np.int8)
    del key, at
    n = len(tags)
    if n < 8 or tags[0] != _T["ISA"]:
        return None
    if tags[-1] != _T["IEA"] or tags[-2] != _T["GE"] or tags[-3] != _T["SE"]:
        return None
    counts = np.bincount(tags.astype(np.int64), minlength=_OTHER + 1)
    if any(counts[_T[tag]] != 1 for tag in ("ISA", "GS", "ST", "SE", "GE", "IEA")):
        return None
    ins = np.flatnonzero(tags == _T["INS"])
    if not len(ins):
        return None
    first_ins, se = int(ins[0]), n - 3
    if not (np.flatnonzero(tags == _T["GS"])[0] < np.flatnonzero(tags == _T["ST"])[0] < first_ins):
        return None
    if np.isin(tags[first_ins:se], _OUTSIDE).any():
        return None
    return Layout(body, term, buf, starts, lengths, tags, first_ins, se)


def _tag_key(tag: str) -> int:
    b = [ord(ch) for ch in tag]
    if len(b) == 2:
        return b[0] * 256 + b[1]
    return (b[0] * 256 + b[1]) * 256 + b[2] + (1 << 30)


# --- values as the handlers read them (each raises Declined where a handler reports) --------


@lru_cache(maxsize=1 << 16)
def _d8(value: str) -> date:
    """interchange.date, for a value it finds valid (else Declined: it reports an error)."""
    if len(value) == 8 and value.isdigit():
        try:
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            pass
    raise Declined(value)


def _period(el: list[str]) -> tuple[date, date]:
    """interchange.period, for what it reads without a problem."""
    fmt = el[2] if len(el) > 2 else ""
    value = el[3] if len(el) > 3 else ""
    if fmt == "D8":
        day = _d8(value)
        return day, day
    if fmt == "RD8":
        first, _, last = value.partition("-")
        if not last:
            raise Declined(value)
        return _d8(first), _d8(last)
    raise Declined(fmt)


def _amount(value: str) -> Decimal:
    """members.amount, for what it reads without a problem."""
    if value.isascii() and value.replace(".", "", 1).isdigit():
        return Decimal(value)
    try:
        result = D(value)
    except (ValueError, TypeError):
        raise Declined(value) from None
    if result < 0:
        raise Declined(value)
    return result


def _fits(field: str, value: str) -> str:
    if len(value) > TEXT_LIMITS[field]:
        raise Declined(field)
    return value


def _ssn(sent: str) -> str | None:
    """members.read_ssn, for what it keeps without a warning (None for no SSN: NM109 blank
    or all zeros)."""
    if (
        len(sent) == 9
        and sent.isdigit()
        and sent.isascii()
        and sent[0] not in "069"
        and sent[3:5] != "00"
        and sent[5:] != "0000"
        and sent != "123456789"
    ):
        return sent  # nine digits that could have been issued: the common case, kept as sent
    if not sent:
        return None
    ssn = sent.replace("-", "").replace(" ", "")
    if ssn == "000000000":
        return None
    if len(ssn) == 9 and ssn.isascii() and ssn.isdigit():
        if ssn[0] in "069" or ssn[3:5] == "00" or ssn[5:] == "0000" or ssn == "123456789":
            if ssn_problem(ssn) is not None:
                raise Declined("ssn")
        return ssn
    raise Declined("ssn")


def _ins(text: str, sep: str) -> tuple[bool, object]:
    """An INS the handlers read without a problem: (subscriber?, the subscriber's status or
    the dependent's relationship)."""
    el = text.split(sep)
    if not (5 < len(el) < 10 and el[5]):  # on_ins' common INS (no statuses to read through)
        raise Declined(text)
    benefit = el[5]
    employment = el[8] if len(el) == 9 else ""
    if el[3] != "030" or benefit not in BENEFIT_STATUS or el[4] == "03":
        raise Declined(text)
    if el[1] == "Y":
        if el[2] != "18" or (employment and employment not in EMPLOYMENT_STATUS):
            raise Declined(text)
        status = MemberStatus.ACTIVE
        if benefit == "C":
            status = COBRA
        elif employment == "RT":
            status = RETIREE
        elif employment == "TE":
            status = TERMINATED
        return True, status
    if el[1] == "N":
        relationship = RELATIONSHIPS.get(el[2])
        if relationship is None:
            raise Declined(text)
        return False, relationship
    raise Declined(text)


def _hd(text: str, sep: str) -> tuple:
    el = text.split(sep)
    if len(el) < 6 or el[1] != "030" or ";" in el[4]:
        raise Declined(text)
    line, tier = LINES.get(el[3]), TIERS.get(el[5])
    if line is None or tier is None:
        raise Declined(text)
    return line, el[4] or None, tier


def _icm(text: str, sep: str) -> Decimal:
    el = text.split(sep)
    frequency = el[1] if len(el) > 1 else ""
    amount = _amount(el[2] if len(el) > 2 else "")
    if frequency == "H":
        hours = DEFAULT_WEEKLY_HOURS
        if len(el) > 3 and el[3]:
            hours = _amount(el[3])
        return cents(amount * hours * 52)
    periods = PERIODS_PER_YEAR.get(frequency)
    if periods is None:
        raise Declined(frequency)
    return cents(amount * periods)


def _dmg(text: str, sep: str) -> tuple[date | None, Gender | None]:
    el = text.split(sep)
    birth = gender = None
    if len(el) > 2 and el[2]:
        if el[1] != "D8":
            raise Declined(text)
        birth = _d8(el[2])
    if len(el) > 3 and el[3]:
        gender = GENDERS.get(el[3])
        if gender is None:
            raise Declined(text)
    return birth, gender


class Segments:
    """The member region's segments, cut from the file's text only when read: a full file's
    3 million segments are mostly copies, and making each a string (and hashing it) cost
    more than reading the distinct ones."""

    # Odd 64-bit multipliers, one per 8-byte word of a segment (FNV's prime chains them).
    _MIX = np.array(
        [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
         0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F],
        dtype=np.uint64,
    )  # fmt: skip
    _CHAIN = np.uint64(0x100000001B3)

    def __init__(self, layout: Layout):
        self.body = layout.body
        self.buf = layout.buf
        self.starts = layout.starts[layout.first_ins : layout.se].astype(np.int64)
        self.lengths = layout.lengths[layout.first_ins : layout.se]

    def each(self, at: np.ndarray) -> list[str]:
        """The texts of the segments `at` (region positions), in order."""
        body = self.body
        return [
            body[start : start + length]
            for start, length in zip(
                self.starts[at].tolist(), self.lengths[at].tolist(), strict=True
            )
        ]

    def distinct(self, at: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """`pd.factorize` of the texts of the segments `at`, without making them: per segment
        its distinct text's number (in order of first appearance), and the distinct texts.
        Each segment's bytes (zeros after its end) are read as 8-byte words and mixed into
        one 64-bit key; segments with one key are then compared byte for byte with the first
        of them, so two texts are one only when equal (a collision falls back to pandas)."""
        if not len(at):
            return np.zeros(0, dtype=np.intp), []
        starts, lengths = self.starts[at], self.lengths[at]
        width = -(-int(lengths.max()) // 8) * 8
        if width > _WIDEST:
            return self._as_texts(at)
        rows = np.lib.stride_tricks.sliding_window_view(self.buf, width)[starts]
        rows[np.arange(width, dtype=np.int32) >= lengths[:, None]] = 0
        words = rows.view(np.uint64)
        key = lengths.astype(np.uint64)
        for j in range(words.shape[1]):
            key = key * self._CHAIN ^ words[:, j] * self._MIX[j]
        codes, keys = pd.factorize(key)
        first = np.empty(len(keys), dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
        if not (rows == rows[first[codes]]).all():
            return self._as_texts(at)
        return codes, self.each(at[first])

    def _as_texts(self, at: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """`distinct` by pandas over the texts themselves."""
        codes, uniques = pd.factorize(_objects(self.each(at)))
        return codes, uniques.tolist()


def _distinct(segments: Segments, at: np.ndarray, read) -> tuple[np.ndarray, list]:
    """Each distinct text of the segments `at` read once: per segment its reading's number,
    and the readings."""
    codes, uniques = segments.distinct(at)
    return codes, [read(text) for text in uniques]


def _once(owners: np.ndarray, count: int) -> None:
    """At most one segment per owner (a second would overwrite the first: the handlers'
    order then matters, and the columns do not follow it)."""
    if len(owners) and np.bincount(owners, minlength=count).max() > 1:
        raise Declined("repeated")


@dataclass
class MemberRegion:
    """What the member loops of a plain file read into: the census's members as columns and
    what the reader's state needs to carry on at the SE."""

    members: MemberColumns
    subscribers: int
    dependents: int
    policy_numbers: set[str]
    loop: str


def read_region(layout: Layout, sep: str, control: str) -> MemberRegion:
    """The member loops between the first INS and the SE of a full file's set `control`, as
    the handlers would read them; Declined at the first thing they would not read plainly."""
    first, stop = layout.first_ins, layout.se
    segments = Segments(layout)
    tags = layout.tags[first:stop]
    n = len(tags)

    def where_tag(tag: str) -> np.ndarray:
        return np.flatnonzero(tags == _T[tag])

    # People: each INS opens one; subscribers and dependents told by INS01.
    ins_at = where_tag("INS")
    people = len(ins_at)
    person = np.cumsum(tags == _T["INS"], dtype=np.int32) - 1
    codes, readings = _distinct(segments, ins_at, lambda t: _ins(t, sep))
    is_subscriber = np.array([r[0] for r in readings], dtype=bool)[codes]
    said = _objects([r[1] for r in readings])[codes]
    if not is_subscriber[0]:
        raise Declined("a dependent before any subscriber")
    family = np.cumsum(is_subscriber) - 1  # per person, its subscriber's number
    subscribers = int(is_subscriber.sum())
    sub_of = np.flatnonzero(is_subscriber)  # subscriber number -> person
    dep_of = np.flatnonzero(~is_subscriber)  # dependent number -> person

    # Loops: INS opens 2000, HD 2300, NM1 its own (2100A for the member's name).
    hd_at, nm1_at = where_tag("HD"), where_tag("NM1")
    nm1_parts = [t.split(sep) for t in segments.each(nm1_at)]
    nm1_loops = [NM1_LOOPS.get(el[1] if len(el) > 1 else "", "2100G") for el in nm1_parts]
    setter = np.full(n, -1, dtype=np.int32)
    setter[ins_at] = ins_at
    setter[hd_at] = hd_at
    setter[nm1_at] = nm1_at
    last = np.maximum.accumulate(setter)
    loop_code = np.full(n, _L2000, dtype=np.int8)
    loop_code[hd_at] = _L2300
    loop_code[nm1_at] = [_L2100A if loop == "2100A" else _L2100X for loop in nm1_loops]
    loop = loop_code[last]
    end_loop = {_L2000: "2000", _L2300: "2300"}.get(int(loop_code[last[-1]]))
    if end_loop is None:
        end_loop = nm1_loops[int(np.searchsorted(nm1_at, last[-1]))]

    # The member's name (NM1 in 2100A): once per person.
    named = np.array([loop == "2100A" for loop in nm1_loops], dtype=bool)
    name_at = nm1_at[named]
    if len(name_at) != people:
        raise Declined("NM1")
    _once(person[name_at], people)
    names = [el for el, is_name in zip(nm1_parts, named.tolist(), strict=True) if is_name]
    # one per person, in file order: person k's is names[k]
    last_names = [el[3] if len(el) > 3 else "" for el in names]
    first_names = [el[4] if len(el) > 4 else "" for el in names]
    if not all(last_names):
        raise Declined("NM103")
    if max(map(len, last_names)) > TEXT_LIMITS["last_name"]:
        raise Declined("NM103")
    if max(map(len, first_names)) > TEXT_LIMITS["first_name"]:
        raise Declined("NM104")
    ssn_of = _objects([_ssn(el[9]) if len(el) > 9 and el[8] == "34" else None for el in names])
    last_of = _objects(last_names)
    first_of = _objects(first_names)

    in_name = loop == _L2100A
    # Birth date and gender (DMG in 2100A).
    dmg_at = where_tag("DMG")
    dmg_at = dmg_at[in_name[dmg_at]]
    _once(person[dmg_at], people)
    codes, (births, genders) = _read_each(segments, dmg_at, lambda t: _dmg(t, sep), 2)
    birth_of = np.empty(people, dtype=object)
    birth_of[person[dmg_at]] = births[codes]
    gender_of = _objects([Gender.UNKNOWN] * people)
    genders = genders[codes]
    told = np.not_equal(genders, None)
    gender_of[person[dmg_at][told]] = genders[told]

    # The subscriber's postal code (N4) and salary (ICM) in 2100A.
    subscriber_person = is_subscriber[person]
    n4_at = where_tag("N4")
    n4_at = n4_at[in_name[n4_at] & subscriber_person[n4_at]]
    _once(person[n4_at], people)
    codes, (postal, said_postal) = _read_each(segments, n4_at, lambda t: _n4(t, sep), 2)
    postal_of = np.empty(people, dtype=object)
    told = said_postal.astype(bool)[codes]
    postal_of[person[n4_at][told]] = postal[codes][told]
    icm_at = where_tag("ICM")
    icm_at = icm_at[in_name[icm_at] & subscriber_person[icm_at]]
    _once(person[icm_at], people)
    codes, (salaries,) = _read_each(segments, icm_at, lambda t: (_icm(t, sep),), 1)
    salary_of = np.empty(people, dtype=object)
    salary_of[person[icm_at]] = salaries[codes]

    # REF: the employee id (0F), subgroup (DX, else 17) and policy numbers (1L).
    ref_at = where_tag("REF")
    ref_at = ref_at[(loop[ref_at] == _L2000) | (loop[ref_at] == _L2300)]
    codes, (qualifiers, values) = _read_each(segments, ref_at, lambda t: _ref(t, sep), 2)
    value = values[codes]
    policy_numbers = set(values[qualifiers == "1L"].tolist())
    member_ref = loop[ref_at] == _L2000
    ref_person = person[ref_at]
    on_subscriber = is_subscriber[ref_person]
    if (member_ref & (qualifiers == "OF")[codes]).any():
        raise Declined("REF*OF")
    unfit = _objects([not v or ";" in v or len(v) > TEXT_LIMITS["employee_id"] for v in values])
    zero_f = member_ref & (qualifiers == "0F")[codes]
    if (zero_f & unfit.astype(bool)[codes]).any():
        raise Declined("REF02")
    sub_ref = zero_f & on_subscriber
    _once(ref_person[sub_ref], people)
    id_of = np.empty(people, dtype=object)
    id_of[ref_person[sub_ref]] = value[sub_ref]
    employee_ids = id_of[sub_of]
    if not all(employee_ids.tolist()):
        raise Declined("no REF*0F")
    if pd.Index(employee_ids, dtype=object).has_duplicates:
        raise Declined("an employee twice")
    dep_ref = zero_f & ~on_subscriber
    if dep_ref.any() and (value[dep_ref] != employee_ids[family[ref_person[dep_ref]]]).any():
        raise Declined("a dependent's REF*0F differs")
    subgroup_of = np.empty(people, dtype=object)
    bad_code = np.array(
        [";" in v or len(v) > TEXT_LIMITS["subgroup_code"] for v in values.tolist()], dtype=bool
    )
    for code in ("17", "DX"):  # DX wins over 17 (the handlers: DX always, 17 when none yet)
        said_code = member_ref & on_subscriber & ((qualifiers == code) & values.astype(bool))[codes]
        if (said_code & bad_code[codes]).any():
            raise Declined("REF02")
        _once(ref_person[said_code], people)
        subgroup_of[ref_person[said_code]] = value[said_code]

    # DTP: in 2000 303 (the maintenance date), 336 (hire), 356 (eligibility begins); in
    # 2300 348 (begin), 349 (end) and 303 (read, and nothing more for an audit line).
    dtp_at = where_tag("DTP")
    dtp_codes, (dtp_qualifiers, dtp_starts, dtp_ends, dtp_ranged, dtp_read) = _read_each(
        segments, dtp_at, lambda t: _dtp(t, sep), 5
    )
    dtp_unread = ~dtp_read.astype(bool)
    dtp_loop = loop[dtp_at]
    member_dtp = dtp_loop == _L2000
    line_dtp = dtp_loop == _L2300
    if (member_dtp & np.isin(dtp_qualifiers, ["348", "349", "357"])[dtp_codes]).any():
        raise Declined("DTP*348/349/357 in 2000")
    if (line_dtp & (dtp_qualifiers == "357")[dtp_codes]).any():
        raise Declined("DTP*357 in 2300")

    def dated(where: np.ndarray, code: str, owners: np.ndarray, count: int):
        """The DTPs with qualifier `code` among `where`: their owners (once each), and per
        one its distinct reading's number (Declined when one is not a valid date)."""
        chosen = where & (dtp_qualifiers == code)[dtp_codes]
        picked = dtp_codes[chosen]
        if dtp_unread[picked].any():
            raise Declined("DTP03")
        found = owners[dtp_at[chosen]]
        _once(found, count)
        return found, picked

    member_dates = {}
    for code in ("303", "336", "356"):
        owners, picked = dated(member_dtp, code, person, people)
        member_dates[code] = np.empty(people, dtype=object)
        member_dates[code][owners] = dtp_starts[picked]
    hire_of = member_dates["336"]
    d303_of = member_dates["303"]
    d356_of = member_dates["356"]

    # Coverages: each HD, with its dates (DTP*348/349) and volume (AMT*FK) in 2300.
    covs = len(hd_at)
    coverage_at = np.cumsum(tags == _T["HD"], dtype=np.int32) - 1
    hd_codes, hd_readings = _distinct(segments, hd_at, lambda t: _hd(t, sep))
    # Each value as read, and its number among the distinct values (a coverage's shape).
    cov_from = np.empty(covs, dtype=object)
    cov_to = np.empty(covs, dtype=object)
    from_code = np.full(covs, -1, dtype=np.int64)
    to_code = np.full(covs, -1, dtype=np.int64)
    start_codes = pd.factorize(dtp_starts)[0]
    end_codes = pd.factorize(dtp_ends)[0]
    owners, picked = dated(line_dtp, "348", coverage_at, covs)
    cov_from[owners] = dtp_starts[picked]
    from_code[owners] = start_codes[picked]
    ranged = dtp_ranged.astype(bool)[picked]
    cov_to[owners[ranged]] = dtp_ends[picked][ranged]
    to_code[owners[ranged]] = end_codes[picked][ranged]
    ended, picked = dated(line_dtp, "349", coverage_at, covs)
    if len(ended):
        if np.isin(ended, owners[ranged]).any():
            raise Declined("DTP*348 RD8 and DTP*349 on one line")
        cov_to[ended] = dtp_ends[picked]
        to_code[ended] = end_codes[picked]
    dated(line_dtp, "303", coverage_at, covs)
    same = np.flatnonzero(to_code >= 0)
    if any(a == b for a, b in zip(cov_to[same].tolist(), cov_from[same].tolist(), strict=True)):
        raise Declined("a line cancelled from inception")

    amt_at = where_tag("AMT")
    codes, (amt_qualifiers, amounts) = _read_each(segments, amt_at, lambda t: _amt(t, sep), 2)
    if (amt_qualifiers == "P3").any():
        raise Declined("AMT*P3")
    volume_lines = np.array([r[0] in VOLUME_LINES for r in hd_readings], dtype=bool)
    volume_at = (loop[amt_at] == _L2300) & (amt_qualifiers == "FK")[codes]
    if len(amt_at):
        volume_at &= volume_lines[hd_codes[coverage_at[amt_at]]]
    picked = codes[volume_at]
    if np.equal(amounts[picked], None).any():
        raise Declined("AMT02")
    cov_volume = np.empty(covs, dtype=object)
    volume_code = np.full(covs, -1, dtype=np.int64)
    owners = coverage_at[amt_at[volume_at]]
    _once(owners, covs)
    cov_volume[owners] = amounts[picked]
    volume_code[owners] = pd.factorize(amounts)[0][picked]

    # Each distinct coverage one object (share_equal_coverages), per person its list.
    numbers, first_rows = distinct_rows([hd_codes, volume_code, from_code, to_code])
    coverages = [
        CensusCoverage(*hd_readings[hd_codes[k]], cov_volume[k], cov_from[k], cov_to[k])
        for k in first_rows.tolist()
    ]
    cov_lines = [c.line for c in coverages]
    # Each person's coverages (their numbers, in file order) as one row of a table, and the
    # distinct rows its shapes.
    bounds = np.searchsorted(person[hd_at], np.arange(people + 1))
    held = np.diff(bounds)
    table = [np.full(people, -1, dtype=np.int64) for _ in range(int(held.max(initial=0)))]
    for j, column in enumerate(table):
        has = np.flatnonzero(held > j)
        column[has] = numbers[bounds[has] + j]
    if table:
        person_shape, first_people = distinct_rows(table)
    else:
        person_shape, first_people = np.zeros(people, dtype=np.int64), np.zeros(1, dtype=np.int64)
    numbers = numbers.tolist()
    bounds = bounds.tolist()
    shapes = [tuple(numbers[bounds[p] : bounds[p + 1]]) for p in first_people.tolist()]
    shape_coverages = [[coverages[k] for k in shape] for shape in shapes]

    # The dependents: lines, and the dates their coverages give (close_dependent_row).
    def dependent_dates(shape: tuple) -> tuple:
        lines = {cov_lines[k] for k in shape}
        starts = [coverages[k].effective_from for k in shape if coverages[k].effective_from]
        ends = [coverages[k].effective_to for k in shape]
        all_ended = bool(shape) and all(end is not None for end in ends)
        return lines, min(starts) if starts else None, max(ends) if all_ended else None

    shape_dates = [dependent_dates(shape) for shape in shapes]
    person_shape = person_shape.tolist()
    dep_people = dep_of.tolist()
    said_list = said.tolist()
    first_list, last_list, birth_list = first_of.tolist(), last_of.tolist(), birth_of.tolist()
    gender_list, ssn_list = gender_of.tolist(), ssn_of.tolist()
    d356_list, d303_list = d356_of.tolist(), d303_of.tolist()
    family_bounds = np.searchsorted(family[dep_of], np.arange(subscribers + 1)).tolist()

    def dependent(k: int) -> CensusDependent:
        p = dep_people[k]
        lines, start, end = shape_dates[person_shape[p]]
        return CensusDependent(
            f"ST {control}, INS #{p + 1}",
            first_list[p],
            last_list[p],
            birth_list[p],
            said_list[p],
            gender=gender_list[p],
            ssn=ssn_list[p],
            lines=set(lines),
            effective_from=start or d356_list[p],
            effective_to=end,
            maintenance=AUDIT,
            maintenance_date=d303_list[p],
        )

    where_of = _objects([f"ST {control}, INS #{p + 1}" for p in sub_of.tolist()])
    status_of = said
    columns = {
        "source_row": where_of,
        "employee_id": employee_ids,
        "first_name": first_of[sub_of],
        "last_name": last_of[sub_of],
        "birth_date": birth_of[sub_of],
        "ssn": ssn_of[sub_of],
        "gender": gender_of[sub_of],
        "hire_date": hire_of[sub_of],
        "annual_salary": salary_of[sub_of],
        "status": status_of[sub_of],
        "subgroup_code": subgroup_of[sub_of],
        "class_code": np.empty(subscribers, dtype=object),
        "postal_code": postal_of[sub_of],
        "maintenance": _objects([AUDIT] * subscribers),
        "maintenance_date": d303_of[sub_of],
        "dependents_only": np.zeros(subscribers, dtype=bool).astype(object),
    }
    names = tuple(columns)
    listed = [columns[name].tolist() for name in names]
    sub_shape = np.array(person_shape, dtype=np.int64)[sub_of]
    sub_shape_list = sub_shape.tolist()

    def build(i: int) -> CensusMember:
        member = CensusMember(
            **{name: values[i] for name, values in zip(names, listed, strict=True)}
        )
        member.coverages = list(shape_coverages[sub_shape_list[i]])
        member.dependents = [dependent(k) for k in range(family_bounds[i], family_bounds[i + 1])]
        return member

    lines = frozenset(cov_lines[k] for shape in set(sub_shape_list) for k in shapes[shape])
    members = MemberColumns(
        columns,
        subscribers,
        build,
        dependent_count=people - subscribers,
        lines=lines,
        shapes=(sub_shape, shape_coverages),
    )
    return MemberRegion(members, subscribers, people - subscribers, policy_numbers, end_loop)


def _read_each(
    segments: Segments, at: np.ndarray, read, width: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each distinct text of the segments `at` read once into `width` values: per segment
    its reading's number, and per value an object array over the distinct readings (index it
    with the numbers)."""
    codes, readings = _distinct(segments, at, read)
    return codes, [_objects([r[k] for r in readings]) for k in range(width)]


def _n4(text: str, sep: str) -> tuple:
    el = text.split(sep)
    if len(el) <= 3:
        return None, False
    return _fits("postal_code", el[3]) or None, True


def _objects(values: list) -> np.ndarray:
    found = np.empty(len(values), dtype=object)
    found[:] = values
    return found


def _ref(text: str, sep: str) -> tuple[str, str]:
    el = text.split(sep)
    return (el[1] if len(el) > 1 else ""), (el[2] if len(el) > 2 else "")


def _dtp(text: str, sep: str) -> tuple:
    """(qualifier, start, end as read (a "no end" as None), a range?, read without a
    problem?)."""
    el = text.split(sep)
    qualifier = el[1] if len(el) > 1 else ""
    try:
        start, end = _period(el)
    except Declined:
        return qualifier, None, None, False, False
    return qualifier, start, open_ended(end), el[2] == "RD8", True


def _amt(text: str, sep: str) -> tuple:
    el = text.split(sep)
    qualifier = el[1] if len(el) > 1 else ""
    try:
        amount = _amount(el[2] if len(el) > 2 else "")
    except Declined:
        amount = None
    return qualifier, amount
