"""Commissions (issue 21): schedules per product line and agency (`schedules`), the broker of
record and its splits (`of_record`), what is owed in total on collected or billed premium as of
a day, with holds for delinquent groups (`earning`), the monthly run that states only what
changed and its supervisor's approval (`run`), and their postings per agency: commission expense
against commission awaiting approval, held and payable (`postings`). Statements, the broker
portal and agency payments come in later slices."""
