"""Closing the member loops of an 834, a layer of its reader (census.x12.reader): what can only
be checked once a loop is read. A member's lines get their dates (the member's begin and end
where a line gives none, a cancel from inception, a death), an added line needs its begin and
an ended one its end, the row gets its maintenance date; a dependent joins its subscriber's row
(or, sent alone in a change file, a `dependents_only` row); at the end of a family, tiers the
coverage level leaves open (E1D, TWO...) are read from the dependents listed, and a member sent
again in a change file is named."""

from __future__ import annotations

from datetime import date, timedelta

from billing_core.census.rows import CensusDependent, CensusMember
from billing_core.census.x12.codes import (
    ADD,
    AUDIT,
    CHANGE,
    CHILD,
    EC,
    ES,
    FAM,
    HD_ENDING,
    INS03_WORDS,
    REINSTATE,
    SNAPSHOT,
    TERM,
    TIER_FROM_DEPENDENTS,
)
from billing_core.census.x12.interchange import InterchangeReader
from billing_core.census.x12.loops import COV, D303, HD01, HD03, HD05, POS, RIDER, Person


class MemberClosing(InterchangeReader):
    """The end of a member loop (`close_person`) and of a subscriber's family (`close_family`),
    on the reader's state (census.x12.interchange); census.x12.members calls them as the next
    INS, SE or the end of the file closes a loop."""

    def close_person(self) -> None:
        """End the INS loop being read: checks that need the whole loop, then its row."""
        person = self.person
        if person is None:
            return
        if not person.named:
            self.missing("NM1", "the member has no NM1*IL name segment", person.pos, "2000")
        if person.deceased:
            self.read_death(person)
        if "356" in person.dates and person.maintenance is not AUDIT:
            self.check_eligibility(person)
        if person.subscriber:
            if not person.employee_id:
                self.missing(
                    "REF",
                    "the subscriber has no REF*0F subscriber identifier (the employee id)",
                    person.pos,
                    "2000",
                )
            self.close_subscriber_row(person)
        else:
            self.close_dependent_row(person)
        self.person = None

    def missing(self, segment: str, message: str, pos: int, loop: str) -> None:
        self.error(segment, message, pos=pos, segment=segment, loop=loop, ik3="3", ik4=None)

    def read_death(self, person: Person) -> None:
        """A death (a date in INS12, or INS04 03) ends the person's coverage whatever INS03
        says: senders send it as a change (001) with the date, and it must not read as an
        active change. The row becomes a termination at the date of death (its lines end
        then: see settle_line); without a date, the usual term dates must give one."""
        if person.maintenance is TERM or person.maintenance is None:
            return
        death = person.death
        when = f" on {death.isoformat()}" if death is not None else ""
        what = INS03_WORDS.get(person.code, "")
        self.warning(
            "INS03",
            f"a death{when} sent as {what} ({person.code}): read as a termination at the date "
            "of death",
            person.code,
            pos=person.pos,
        )
        person.maintenance = TERM
        person.row.maintenance = TERM

    def check_eligibility(self, person: Person) -> None:
        """A coverage cannot begin before the member is eligible (DTP*356): when a change
        moves one date and not the other (the member's 356 against the line's 348), the file
        is read as sent and a person looks at which is right."""
        eligible = person.dates["356"]
        if eligible is None:
            return
        for hd in person.coverages:
            began = hd[COV].effective_from
            if began is not None and began < eligible and hd[HD01] not in HD_ENDING:
                self.warning(
                    "DTP",
                    f"the {hd[HD03]} coverage begins ({began.isoformat()}) before the member's "
                    f"eligibility begins (DTP*356 {eligible.isoformat()}): read as sent",
                    began.strftime("%Y%m%d"),
                    pos=hd[POS],
                )
                return

    def check_dates(self, hd: list) -> None:
        """An added coverage needs its begin date, an ended (or deleted) one its end date."""
        cov, maint = hd[COV], hd[HD01]
        if maint in ("021", "025") and cov.effective_from is None:
            self.missing(
                "DTP",
                f"the {hd[HD03]} coverage added has no DTP*348 benefit begin",
                hd[POS],
                "2300",
            )
        elif maint in HD_ENDING and cov.effective_to is None:
            self.missing(
                "DTP",
                f"the {hd[HD03]} coverage ended has no DTP*349 benefit end (nor has the "
                "member a DTP*357 eligibility end)",
                hd[POS],
                "2300",
            )

    def member_dates(self, person: Person) -> tuple | None:
        """What the member's loop says for every line that does not say it itself: (begin,
        end, date of death), or None when it says nothing (the common case)."""
        dates = person.dates
        death = person.death
        if not dates and death is None:
            return None
        start = dates.get("348")
        end = dates.get("349") or dates.get("357")
        if start is None and end is None and death is None:
            return None
        return start, end, death

    def settle_line(self, hd: list, fill: tuple | None) -> None:
        """A line's dates once its loop is read: the member's begin and end where the line
        gives none; a cancel from inception (its end is its begin, DTP*348 = DTP*349) ended
        the day before it began, so nothing is billed; a death ends it at the date of death
        (a line that would begin later is then ended before it began: nothing billed)."""
        cov = hd[COV]
        death = None
        if fill is not None:
            start, end, death = fill
            if cov.effective_from is None and start is not None:
                cov.effective_from = start
            if cov.effective_to is None and end is not None:
                cov.effective_to = end
        ends = cov.effective_to
        if ends is not None and ends == cov.effective_from:
            cov.effective_to = ends - timedelta(days=1)
            self.warning(
                "DTP",
                f"the {hd[HD03]} coverage is cancelled from inception (it ends the day it "
                f"begins, {ends.isoformat()}): nothing billed; read as ended the day before it "
                "began",
                ends.strftime("%Y%m%d"),
                pos=hd[POS],
            )
        if death is not None:
            if cov.effective_to is None or cov.effective_to > death:
                cov.effective_to = death
            if cov.effective_from is not None and cov.effective_from > death:
                self.warning(
                    "DTP",
                    f"the {hd[HD03]} coverage begins ({cov.effective_from.isoformat()}) after "
                    f"the date of death ({death.isoformat()}): nothing billed",
                    cov.effective_from.strftime("%Y%m%d"),
                    pos=hd[POS],
                )

    def close_dependent_row(self, person: Person) -> None:
        row: CensusDependent = person.row
        lines = row.lines
        start = end = None
        all_ended = bool(person.coverages)
        fill = self.member_dates(person)
        for hd in person.coverages:
            cov = hd[COV]
            if fill is not None or (
                cov.effective_to is not None and cov.effective_to == cov.effective_from
            ):
                self.settle_line(hd, fill)
            if hd[HD01] != "030":
                self.check_dates(hd)
            if cov.line is not None:
                lines.add(cov.line)
            begins, ends = cov.effective_from, cov.effective_to
            if begins is not None and (start is None or begins < start):
                start = begins
            if ends is None:
                all_ended = False
            elif end is None or ends > end:
                end = ends
        dates = person.dates
        row.effective_from = start or dates.get("356") or dates.get("348")
        if all_ended:
            row.effective_to = end
        elif person.maintenance is TERM:
            row.effective_to = (
                person.death or dates.get("303") or dates.get("349") or dates.get("357")
            )
            if row.effective_to is None:
                self.error(
                    "INS03",
                    "a dependent's termination needs its last covered day (DTP*349, DTP*357 or "
                    "DTP*303)",
                    "024",
                    pos=person.pos,
                    segment="INS",
                    loop="2000",
                    ik4="I12",
                )
        row.maintenance = person.maintenance
        row.maintenance_date = self.maintenance_date(person, report=False)
        family = person.family
        person.family = None
        if not person.valid:
            return
        if family is not None:
            family.row.dependents.append(row)
        else:
            self.hold(person, row)

    def hold(self, person: Person, row: CensusDependent) -> None:
        """A dependent loop with no subscriber loop before it in its transaction set: a
        change file's dependent-only maintenance (a dependent added, changed or ended while
        the subscriber is not). It joins the subscriber's row when that loop came in an
        earlier set of the file (one ST per person), else a `dependents_only` row naming the
        subscriber by the dependent's REF*0F (whether that subscriber is enrolled is the
        diff's question). A full file lists every dependent under its subscriber."""
        employee_id = person.employee_id
        if not employee_id:
            self.error(
                "REF",
                "a dependent sent without its subscriber's INS loop needs REF*0F with the "
                "subscriber's identifier",
                pos=person.pos,
                segment="REF",
                loop="2000",
                ik3="3",
                ik4=None,
            )
            return
        if self.census.kind is SNAPSHOT:
            self.error(
                "INS01",
                "a dependent comes before any subscriber in this transaction set: a full file "
                "(BGN08 4) lists each dependent under its subscriber's INS loop",
                "N",
                pos=person.pos,
                segment="INS",
                loop="2000",
                ik3="2",
                ik4=None,
            )
            return
        rows = self.rows_by_id.get(employee_id)
        if rows:
            rows[-1].dependents.append(row)
            return
        held = self.held.get(employee_id)
        if held is None:
            holder = CensusMember(person.where, employee_id, "", "", None, dependents_only=True)
            self.census.members.append(holder)
            self.held[employee_id] = (holder, person.where, person.pos)
        else:
            holder = held[0]
        holder.dependents.append(row)

    def close_subscriber_row(self, person: Person) -> None:
        row: CensusMember = person.row
        medical = person.medical
        d303 = person.dates.get("303")
        fill = self.member_dates(person)
        append = row.coverages.append
        for hd in person.coverages:
            cov = hd[COV]
            maint = hd[HD01]
            if fill is not None or (
                cov.effective_to is not None and cov.effective_to == cov.effective_from
            ):
                self.settle_line(hd, fill)
            if maint != "030":
                self.check_dates(hd)
                if maint == "001" and d303 and hd[D303] is None:
                    cov.effective_from = d303  # the member's change date speaks for the line
            if cov.line is None:
                continue
            if hd[RIDER]:
                if medical:
                    hd[COV] = None
                    continue  # folded into the member's medical coverage
                medical = True  # one rider stands in for medical, the others fold into it
            append(cov)
        if person.maintenance is AUDIT:
            row.maintenance_date = d303
        else:
            row.maintenance_date = self.maintenance_date(person)

    def maintenance_date(self, person: Person, *, report: bool = True) -> date | None:
        dates = person.dates
        if person.death is not None:
            return person.death
        if dates.get("303"):
            return dates["303"]
        maintenance = person.maintenance
        if maintenance is AUDIT or maintenance is None:
            return None
        coverages = [hd for hd in person.coverages if hd[COV] is not None]
        if maintenance is TERM:
            ends = [hd[COV].effective_to for hd in coverages if hd[COV].effective_to]
            day = max(ends) if ends else (dates.get("349") or dates.get("357"))
            if day is None and report:
                self.error(
                    "INS03",
                    "a termination needs its last covered day (DTP*349 on the coverage, "
                    "DTP*357 or DTP*303)",
                    person.code,
                    pos=person.pos,
                    segment="INS",
                    loop="2000",
                    ik4="I12",
                )
            return day
        if maintenance in (ADD, REINSTATE):
            starts = [
                hd[COV].effective_from
                for hd in coverages
                if hd[COV].effective_from and hd[HD01] not in HD_ENDING
            ]
            return min(starts) if starts else (dates.get("356") or dates.get("348"))
        if maintenance is CHANGE:
            changed = [hd for hd in coverages if hd[HD01] != "030"]
            days = [hd[COV].effective_from for hd in changed if hd[HD01] not in HD_ENDING]
            days = [d for d in days if d]
            if days:
                return min(days)
            ended = [hd[COV].effective_to for hd in changed if hd[HD01] in HD_ENDING]
            ended = [d for d in ended if d]
            return max(ended) if ended else None
        return None

    def close_family(self) -> None:
        """End a subscriber's group of INS loops: a member sent again in a change file is
        named (rows apply in the order sent; an exact repeat changes nothing new), and tiers
        the coverage level leaves open (E1D, TWO...) are read from the dependents listed on
        each line."""
        self.close_person()
        subscriber = self.subscriber
        if subscriber is None:
            return
        self.subscriber = None
        dependents = subscriber.dependents
        subscriber.dependents = None  # no cycles: the reader's scaffolding is freed at once
        employee_id = subscriber.employee_id
        if employee_id and self.census.kind is not SNAPSHOT:
            rows = self.rows_by_id.get(employee_id)
            if rows is not None and len(rows) > 1 and rows[-1] is subscriber.row:
                self.repeated(subscriber, rows)
        if not subscriber.open_tier:
            return
        for hd in subscriber.coverages:
            cov = hd[COV]
            if hd[HD05] not in TIER_FROM_DEPENDENTS or cov is None or cov.line is None:
                continue
            partner = children = False
            for dependent in dependents:
                row = dependent.row
                if dependent.valid and cov.line in row.lines and row.effective_to is None:
                    if row.relationship is CHILD:
                        children = True
                    else:
                        partner = True
            if partner:
                cov.tier = FAM if children else ES
            elif children:
                cov.tier = EC

    def repeated(self, subscriber: Person, rows: list[CensusMember]) -> None:
        """The same member again in a change file (an add, a term, the add again): each row
        applies in the order sent, and a person should see it."""
        employee_id = subscriber.employee_id
        at = f"{subscriber.where} (employee {employee_id}), segment {subscriber.pos}"
        sent = as_sent(rows[-1])
        for earlier in rows[:-1]:
            if as_sent(earlier) == sent:
                self.warning(
                    "INS",
                    f"employee {employee_id} is sent again exactly as at {earlier.source_row}: "
                    "rows are applied in the order sent",
                    employee_id,
                    at=at,
                )
                return
        self.warning(
            "INS",
            f"employee {employee_id} is listed more than once (first at {rows[0].source_row}): "
            "rows are applied in the order sent",
            employee_id,
            at=at,
        )


def as_sent(row: CensusMember) -> dict:
    """A subscriber row as the file said it, without where it was said (to find exact
    repeats of the same member)."""
    sent = row.as_dict()
    del sent["source_row"]
    for dependent in sent["dependents"]:
        del dependent["source_row"]
    return sent
