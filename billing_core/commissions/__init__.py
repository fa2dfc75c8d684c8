"""Commissions (issue 21): schedules per product line and agency, earning on collected premium,
holds and chargebacks, the monthly commission run and its statements, agency payments. Posts
commission expense and payable through `billing_core.ledger`."""
