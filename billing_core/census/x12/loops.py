"""A member loop and a coverage loop of an 834 while the reader reads them: what is only known
once a loop ends (its dates, its dependents, whether it was valid) is kept here until then."""

from __future__ import annotations

# An HD loop while it is read is a list (cheaper than an object at 700,000 loops a file):
# [the CensusCoverage it becomes, HD01, HD03, HD05, segment position, is a medical rider,
#  its DTP*303 date]
COV, HD01, HD03, HD05, POS, RIDER, D303 = range(7)


class Person:
    """One INS loop while it is read: the row it becomes and what is only known at its end."""

    __slots__ = ("row", "subscriber", "maintenance", "where", "pos", "named", "employee_id")
    __slots__ += ("dates", "coverages", "dependents", "valid", "family", "medical", "open_tier")
    __slots__ += ("code", "death", "deceased")

    def __init__(self, row, subscriber, where, pos):
        self.row = row
        self.subscriber = subscriber
        self.where = where
        self.pos = pos
        self.maintenance = None
        self.named = False
        self.employee_id = None
        self.dates = {}
        self.coverages = []
        self.dependents = []  # the dependents' Person, for a subscriber
        self.valid = True
        self.family = None  # the subscriber's Person, for a dependent
        self.medical = False  # has a medical HD loop other than a rider
        self.open_tier = False  # has an HD05 whose tier depends on the dependents
        self.code = ""  # INS03 as sent
        self.death = None  # the date of death (INS12)
        self.deceased = False  # a date of death, or INS04 03 (deceased)
