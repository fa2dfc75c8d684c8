"""Collections (issue 20): what happens when a group does not pay, from the first late day to
charge-off. Delinquency plans and moratoriums (`plans.py`); the clock's dates (`clock.py`);
what is overdue after credits and disputes, from the kept balances (`overdue.py`); the states,
every transition and the pause hook (`states.py`); the consolidated notices (`notices.py`);
the daily sweep, idempotent and catch-up safe, refusing a day before the last sweep
(`sweep.py`); the collector's worklist, contact log and promises to pay (`worklist.py`,
`contacts.py`); payment plans (`payment_plans.py`); cancellation for non-payment, the review
of later bills and reinstatement (`cancellation.py`); referral to an agency (`referrals.py`),
charge-off and recoveries (`charge_off.py`), bankruptcy's automatic stay (`bankruptcy.py`);
the credit-control watchlist (`watchlist.py`); what a broker and the credit-control report see
(`standing.py`) and the employer's clock (`employer_clock.py`). The walk through every state
with exact dates: tests/unit/collections/test_journey.py."""
