"""Collections (issue 20). Built so far: delinquency plans and moratoriums (`plans.py`), the
clock's dates (`clock.py`), what is overdue after credits and disputes, read from the kept
balances (`overdue.py`), the states and their transitions, the pause hook and cancellation for
non-payment (`states.py`), the consolidated notices (`notices.py`) and the daily sweep
(`sweep.py`). To come here: the collector's worklist and contact log, payment plans and
promises (they pause the clock through `states.pause_clock`), reinstatement of coverage and
billing, referrals, charge-off, bankruptcy and the credit-control watchlist."""
