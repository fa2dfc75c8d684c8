"""The member loops of an 834, a layer of its reader (census.x12.reader): the segment handlers
from INS on (REF, DTP, NM1, N4, DMG, ICM, HD, AMT) that fill in the member's row, its
dependents and its coverages as they are read. What a code means is census.x12.codes'; what a
sender writes against the guide and is read as meant, census.x12.tolerance's; what can only be
checked at the end of a loop, census.x12.closing's.

A dependent loop with no subscriber loop before it in its transaction set is dependent-only
maintenance (see MemberClosing.hold); a dependent loop after a subscriber loop belongs to it by
order, even when its REF*0F differs (de-identified feeds scramble it: a warning)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing_core.census.rows import (
    MAINTENANCE_CODES,
    TEXT_LIMITS,
    CensusCoverage,
    CensusDependent,
    CensusMember,
    clipped,
    length_problem,
)
from billing_core.census.x12.closing import MemberClosing
from billing_core.census.x12.codes import (
    ADD,
    BENEFIT_STATUS,
    CHILD,
    CLASS_WORDS,
    COBRA,
    DEFAULT_WEEKLY_HOURS,
    EMPLOYMENT_STATUS,
    GENDERS,
    HD_MAINTENANCE,
    LINE_WORDS,
    LINES,
    MEDICAL,
    MEDICAL_RIDERS,
    NM1_LOOPS,
    PERIODS_PER_YEAR,
    RELATIONSHIPS,
    RETIREE,
    SNAPSHOT,
    SUBGROUP_WORDS,
    TERM,
    TERMINATED,
    TIER_FROM_DEPENDENTS,
    TIERS,
    VOLUME_LINES,
    relationship_problem,
)
from billing_core.census.x12.loops import COV, D303, HD01, HD03, HD05, RIDER, Person
from billing_core.census.x12.tolerance import (
    INS_ELEMENTS,
    open_ended,
    read_ins_statuses,
    ssn_problem,
)
from billing_core.money import D, cents
from billing_core.security import mask_ssn


class MemberLoops(MemberClosing):
    """The handlers of the member loops (loop 2000 and what it holds)."""

    def on_ins(self, el: list[str]) -> None:
        st = self.st
        if st is None:
            self.file_error("INS", "a member (INS) outside any ST transaction set")
            return
        if self.person is not None:
            self.close_person()
        self.ins_no += 1
        self.loop = "2000"
        pos = self.seg_no - self.st_base
        if not st["first_ins"]:
            st["first_ins"] = pos
        where = f"ST {st['control']}, INS #{self.ins_no}"
        if 5 < len(el) < 10 and el[5]:  # the common INS: nothing after INS08 to read through
            benefit, employment, death, death_column, deviations = el[5], "", None, "", ()
            if len(el) == 9:
                employment = el[8]
        else:
            if len(el) < INS_ELEMENTS:
                el = el + [""] * (INS_ELEMENTS - len(el))
            benefit, employment, death, death_column, deviations = read_ins_statuses(el)
        indicator, relation, code = el[1], el[2], el[3]
        maintenance = MAINTENANCE_CODES.get(code)
        if indicator == "Y":
            if self.subscriber is not None:
                self.close_family()
            st["subscribers"] += 1
            if maintenance is ADD:
                st["adds"] += 1
            row = CensusMember(where, "", "", "", None)
            row.maintenance = maintenance
            person = Person(row, True, where, pos)
            self.person = self.subscriber = person
            self.census.members.append(row)
            if benefit == "C":
                row.status = COBRA
            elif employment == "RT":
                row.status = RETIREE
            elif employment == "TE":
                row.status = TERMINATED
            if employment and employment not in EMPLOYMENT_STATUS:
                self.error(
                    "INS08",
                    "expected employment status AC, FT, PT, L1, AO, AU (active), RT retired or "
                    "TE terminated",
                    employment,
                )
            if relation != "18":
                relationship = RELATIONSHIPS.get(relation)
                words = f" ({relationship.value})" if relationship else ""
                self.warning(
                    "INS02",
                    f"the subscriber's relationship is {relation or '(blank)'}{words}, not 18 "
                    "(self): read as the subscriber of a policy in that person's own name (a "
                    "child-only policy)",
                    relation,
                    ik3="8",
                )
        elif indicator == "N":
            st["dependents"] += 1
            relationship = RELATIONSHIPS.get(relation)
            row = CensusDependent(where, "", "", None, relationship or CHILD)
            row.maintenance = maintenance
            person = Person(row, False, where, pos)
            self.person = person
            subscriber = self.subscriber
            if subscriber is not None:  # else dependent-only maintenance: see hold
                person.family = subscriber
                person.employee_id = subscriber.employee_id
                subscriber.dependents.append(person)
            if relationship is None:
                self.error("INS02", relationship_problem(relation), relation)
        else:
            self.person = None
            self.error("INS01", "expected Y (subscriber) or N (dependent)", indicator)
            return
        person.maintenance = maintenance
        person.code = code
        for column, message, value in deviations:
            self.warning(column, message, value, ik3="8")
        if benefit not in BENEFIT_STATUS:
            self.error(
                "INS05",
                "expected benefit status A active, C COBRA, S surviving or T TEFRA",
                benefit,
            )
        if maintenance is None:
            self.error(
                "INS03",
                "expected maintenance type 021 add, 024 term, 001 change, 025 reinstate or "
                "030 audit",
                code,
            )
        elif maintenance is TERM and self.census.kind is SNAPSHOT:
            self.error(
                "INS03",
                "a full file (BGN08 4) lists who is covered: send terminations (024) in a "
                "change file",
                code,
            )
        if el[4] == "03":  # INS04: deceased
            person.deceased = True
        if death is not None:
            day = self.date(death_column, death)
            if day is not None:
                person.death = day
                person.deceased = True

    def on_ref(self, el: list[str]) -> None:
        qualifier = el[1] if len(el) > 1 else ""
        value = el[2] if len(el) > 2 else ""
        loop = self.loop
        person = self.person
        if loop == "2000" and person is not None:
            if qualifier == "0F" or qualifier == "OF":
                if qualifier == "OF":
                    self.warning(
                        "REF01",
                        "REF*OF (the letter O) read as REF*0F (zero F), the subscriber identifier",
                        qualifier,
                        ik3="8",
                    )
                if ";" in value:
                    value = self.unpacked("REF02", value)
                if not value:
                    self.error("REF02", "the subscriber identifier is empty", value, ik4="1")
                    return
                value = self.fitting("REF02", "employee_id", value)
                if person.subscriber:
                    self.subscriber_id(person, value)
                elif person.family is not None:
                    if value != person.family.employee_id:
                        self.warning(
                            "REF02",
                            f"the dependent's subscriber identifier differs from the "
                            f"subscriber loop before it ({person.family.employee_id or 'none'})"
                            ": linked to that subscriber by order",
                            value,
                        )
                else:
                    person.employee_id = value
            elif qualifier == "1L":
                self.policy_numbers.add(value)
            elif person.subscriber and qualifier == "DX" and value:
                if ";" in value:
                    value = self.unpacked("REF02", value)
                person.row.subgroup_code = self.fitting("REF02", "subgroup_code", value) or None
            elif person.subscriber and qualifier == "17" and value:
                if not person.row.subgroup_code:
                    if ";" in value:
                        value = self.unpacked("REF02", value)
                    value = self.fitting("REF02", "subgroup_code", value)
                    person.row.subgroup_code = value or None
        elif loop == "2300":
            if qualifier == "1L":
                self.policy_numbers.add(value)
        elif loop == "2750" and person is not None and person.subscriber and value:
            name = self.category
            if any(word in name for word in CLASS_WORDS):
                person.row.class_code = self.fitting("REF02", "class_code", value)
            elif any(word in name for word in SUBGROUP_WORDS) and not person.row.subgroup_code:
                person.row.subgroup_code = self.fitting("REF02", "subgroup_code", value)
        elif loop == "HEADER" and qualifier == "38":
            self.master_policies.add(value)

    def subscriber_id(self, person: Person, value: str) -> None:
        """The subscriber's REF*0F: its row's key, its dependents' too; a repeat in a full file
        is an error (one row per member), in a change file rows apply in order (close_family
        warns); a dependent held earlier in this set for the same subscriber came before it."""
        person.employee_id = value
        row = person.row
        row.employee_id = value
        for dependent in person.dependents:  # a dependent before its REF*0F
            dependent.employee_id = value
        rows = self.rows_by_id.get(value)
        if rows is None:
            self.rows_by_id[value] = [row]
        elif rows[-1] is not row:
            if self.census.kind is SNAPSHOT:
                self.error(
                    "REF02",
                    f"employee {value} is listed twice in a full file (first at "
                    f"{rows[0].source_row})",
                    value,
                    ik4="I12",
                )
            rows.append(row)
        if self.held:
            held = self.held.pop(value, None)
            if held is not None:
                holder, where, pos = held
                self.census.members.remove(holder)
                self.error(
                    "INS01",
                    "a dependent comes before any subscriber in this transaction set, and its "
                    "subscriber's loop follows: dependents follow their subscriber's INS loop",
                    "N",
                    at=f"{where}, segment {pos}",
                    pos=pos,
                    segment="INS",
                    loop="2000",
                    ik3="2",
                    ik4=None,
                )

    def on_dtp(self, el: list[str]) -> None:
        loop = self.loop
        if loop == "2300":
            hd, cov = self.hd, self.cov
            if len(el) == 4 and el[1] == "348" and el[2] == "D8":  # the common case, kept short
                start = self.dates.get(el[3]) or self.date("DTP03", el[3])
                if hd[D303] is None or hd[HD01] != "001":  # a change dates from its 303
                    cov.effective_from = start
                return
            qualifier = el[1] if len(el) > 1 else ""
            if qualifier == "348":
                start, end = self.period("DTP", el)
                if el[2:3] == ["RD8"]:
                    cov.effective_to = open_ended(end)
                if hd[D303] is None or hd[HD01] != "001":
                    cov.effective_from = start
            elif qualifier == "349":
                cov.effective_to = open_ended(self.period("DTP", el)[1])
            elif qualifier == "303":
                day = hd[D303] = self.period("DTP", el)[0]
                if hd[HD01] == "001" and day is not None:
                    cov.effective_from = day  # a change takes effect on its 303
            elif qualifier == "357":
                end = open_ended(self.period("DTP", el)[1])
                if cov.effective_to is None:
                    cov.effective_to = end
                self.warning(
                    "DTP01",
                    "DTP*357 (eligibility end) in a coverage loop: read as the coverage's end "
                    "unless its DTP*349 says otherwise",
                    qualifier,
                    ik3="8",
                )
            return
        qualifier = el[1] if len(el) > 1 else ""
        person = self.person
        if loop == "2000":
            if person is None:
                return
            if qualifier in ("303", "336", "356", "357"):
                start, end = self.period("DTP", el)
                day = open_ended(end) if qualifier == "357" else start
                person.dates[qualifier] = day
                if qualifier == "336" and person.subscriber:
                    person.row.hire_date = day
            elif qualifier in ("348", "349"):
                start, end = self.period("DTP", el)
                person.dates[qualifier] = start if qualifier == "348" else open_ended(end)
                words = "begin" if qualifier == "348" else "end"
                self.warning(
                    "DTP01",
                    f"DTP*{qualifier} (benefit {words}) in the member's loop 2000 rather than a "
                    f"coverage loop: read as the {words} of every coverage that gives none",
                    qualifier,
                    ik3="8",
                )
        elif loop == "HEADER" and qualifier == "007":
            self.census.detail["file_effective_date"] = _iso_date(self.period("DTP", el)[0])

    def on_nm1(self, el: list[str]) -> None:
        code = el[1] if len(el) > 1 else ""
        loop = self.loop
        if loop in ("2320", "2330"):
            self.loop = "2330"
            return
        if loop == "2310":
            return
        self.loop = NM1_LOOPS.get(code, "2100G")
        person = self.person
        if self.loop != "2100A" or person is None:
            return
        row = person.row
        row.last_name = self.fitting("NM103", "last_name", el[3] if len(el) > 3 else "")
        row.first_name = self.fitting("NM104", "first_name", el[4] if len(el) > 4 else "")
        person.named = True
        if not row.last_name:
            self.error("NM103", "the member's last name is missing", "", ik4="1")
        if len(el) > 9 and el[9] and el[8] == "34":
            self.read_ssn(row, el[9])

    def fitting(self, column: str, field: str, value: str) -> str:
        """`value`, or (longer than the database keeps `field`) an error at `column` naming the
        limit and the value cut short (rows.length_problem)."""
        if len(value) <= TEXT_LIMITS.get(field, len(value)):  # nearly always: no call
            return value
        problem = length_problem(field, value)
        if problem is None:
            return value
        self.error(column, problem, clipped(value), ik4="5")
        return value[: TEXT_LIMITS[field]]

    def read_ssn(self, row: CensusMember | CensusDependent, sent: str) -> None:
        """NM109 under NM108 34. The member key is REF*0F, so an SSN is never a reason to
        refuse a file: nine digits are kept as sent (a number never issued or an ITIN with a
        warning: test feeds and real feeds carry both); anything else is dropped with a
        warning; all zeros is a sender's "not known" and means no SSN."""
        ssn = sent.replace("-", "").replace(" ", "")
        if ssn == "000000000":
            return
        if len(ssn) == 9 and ssn.isascii() and ssn.isdigit():
            row.ssn = ssn
            if ssn[0] in "069" or ssn[3:5] == "00" or ssn[5:] == "0000" or ssn == "123456789":
                problem = ssn_problem(ssn)  # the only numbers it finds a problem with
            else:
                problem = None
            if problem is not None:
                self.warning(
                    "NM109",
                    f"{problem}: kept as sent (the member is known by REF*0F)",
                    mask_ssn(ssn[-4:]),
                )
            return
        self.warning(
            "NM109",
            "expected a nine-digit SSN (NM108 34): not kept (the member is known by REF*0F)",
            mask_ssn(ssn[-4:]) if len(ssn) >= 4 else sent,
        )

    def on_n4(self, el: list[str]) -> None:
        person = self.person
        if self.loop == "2100A" and person is not None and person.subscriber and len(el) > 3:
            person.row.postal_code = self.fitting("N403", "postal_code", el[3]) or None

    def on_dmg(self, el: list[str]) -> None:
        person = self.person
        if self.loop != "2100A" or person is None:
            return
        row = person.row
        if len(el) > 2 and el[2]:
            if el[1] != "D8":
                self.error("DMG01", "expected the date format D8 for the birth date", el[1])
            else:
                row.birth_date = self.dates.get(el[2]) or self.date("DMG02", el[2])
        if len(el) > 3 and el[3]:
            gender = GENDERS.get(el[3])
            if gender is None:
                self.error("DMG03", "expected gender F, M or U", el[3])
            else:
                row.gender = gender

    def on_icm(self, el: list[str]) -> None:
        person = self.person
        if self.loop != "2100A" or person is None or not person.subscriber:
            return
        frequency = el[1] if len(el) > 1 else ""
        amount = self.amount("ICM02", el[2] if len(el) > 2 else "")
        if amount is None:
            return
        if frequency == "H":
            hours = DEFAULT_WEEKLY_HOURS
            if len(el) > 3 and el[3]:
                hours = self.amount("ICM03", el[3])
                if hours is None:
                    return
            person.row.annual_salary = cents(amount * hours * 52)
            return
        periods = PERIODS_PER_YEAR.get(frequency)
        if periods is None:
            self.error(
                "ICM01",
                "expected a pay frequency that gives an annual salary: 1 weekly, 2 bi-weekly, "
                "3 semi-monthly, 4 monthly, 6 daily, 7 annual, 8 bi-monthly, Q quarterly, "
                "S semi-annual or H hourly",
                frequency,
            )
            return
        person.row.annual_salary = cents(amount * periods)

    def amount(self, column: str, value: str) -> Decimal | None:
        result = self.amounts.get(value)  # life volumes repeat: each read once
        if result is not None:
            return result
        if value.isascii() and value.replace(".", "", 1).isdigit():
            # ASCII digits with at most one point: what D reads as Decimal(value), and never
            # negative (the common case, without D's clean-up of signs, commas and $)
            self.amounts[value] = result = Decimal(value)
            return result
        try:
            result = D(value)
        except (ValueError, TypeError):
            self.error(column, "expected an amount such as 1923.08", value, ik4="6")
            return None
        if result < 0:
            self.error(column, "expected an amount that is not negative", value, ik4="6")
            return None
        self.amounts[value] = result
        return result

    def on_hd(self, el: list[str]) -> None:
        self.loop = "2300"
        try:
            maint, code, plan, level = el[1], el[3], el[4], el[5]
        except IndexError:
            el = el + [""] * 6
            maint, code, plan, level = el[1], el[3], el[4], el[5]
        line = LINES.get(code)
        self.cov = cov = CensusCoverage(line, plan or None, TIERS.get(level))
        self.hd = hd = [cov, maint, code, level, self.seg_no - self.st_base, False, None]
        person = self.person
        if person is not None:
            person.coverages.append(hd)
            if line is None or maint not in HD_MAINTENANCE or level not in TIERS or ";" in plan:
                if not self.check_hd(person, hd):
                    return
            if line is MEDICAL:
                person.medical = True

    def check_hd(self, person: Person, hd: list) -> bool:
        """The unusual HD loops: riders, open coverage levels, `;`-packed plans and bad codes.
        False when the line is skipped: an unknown HD01 says nothing known about that line, so
        it is left out (and named in a warning) while the member's other lines are read."""
        cov, maint, code, level = hd[COV], hd[HD01], hd[HD03], hd[HD05]
        if maint not in HD_MAINTENANCE:
            person.coverages.pop()
            plan = f" (plan {cov.plan_code})" if cov.plan_code else ""
            self.warning(
                "HD01",
                f"unknown coverage maintenance code {maint or '(blank)'}: the "
                f"{code or 'unnamed'} line{plan} is skipped (expected 021 add, 024 term, 002 "
                "delete, 001 change, 025 reinstate, 026 correction or 030 audit)",
                maint,
                ik3="8",
            )
            return False
        if cov.plan_code and ";" in cov.plan_code:
            cov.plan_code = self.unpacked("HD04", cov.plan_code) or None
        if cov.line is None:
            if code in MEDICAL_RIDERS:
                cov.line, hd[RIDER] = MEDICAL, True
            else:
                if code in LINE_WORDS:
                    message = (
                        f"insurance line {code} ({LINE_WORDS[code]}) is not a line of coverage "
                        "billed here"
                    )
                else:
                    message = (
                        "unknown insurance line code: expected HLT/MM/HMO/PPO/EPO/POS "
                        "(medical), DEN, VIS, STD, LTD, LIF (basic life), SLF/OPL "
                        "(supplemental life) or ADD"
                    )
                self.error("HD03", message, code, ik4="1" if not code else "7")
        if level not in TIERS:
            if level in TIER_FROM_DEPENDENTS:
                person.open_tier = True
            elif level:
                self.error(
                    "HD05",
                    "expected coverage level EMP, ESP, ECH, FAM (or CHD, SPO, SPC, IND, TWO, "
                    "E1D..E9D, DEP)",
                    level,
                )
        return True

    def on_amt(self, el: list[str]) -> None:
        qualifier = el[1] if len(el) > 1 else ""
        if qualifier == "P3":
            self.reported_premium(el[2] if len(el) > 2 else "")
            return
        if self.loop != "2300" or self.cov is None:
            return
        if qualifier == "FK" and self.cov.line in VOLUME_LINES:
            self.cov.elected_volume = self.amount("AMT02", el[2] if len(el) > 2 else "")

    def reported_premium(self, value: str) -> None:
        """AMT*P3: the premium the sender computed, for the member (loop 2100A) or a line
        (2300). Advisory: kept in detail for the review to compare with the portal's rating;
        a figure that is not an amount is a warning, never a reason to refuse the file."""
        person = self.person
        if person is None:
            return
        try:
            amount = D(value)
        except (ValueError, TypeError):
            self.warning("AMT02", "the premium (AMT*P3) is not an amount: left out", value)
            return
        cov = self.cov if self.loop == "2300" else None
        self.premiums.append(
            {
                "row": self.where(),
                "employee_id": person.employee_id or "",
                "dependent": not person.subscriber,
                "line": cov.line.value if cov is not None and cov.line is not None else None,
                "amount": str(amount),
            }
        )


def _iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None
