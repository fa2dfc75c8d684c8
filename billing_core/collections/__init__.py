"""Collections (issue 20): delinquency plans, the daily sweep and its notices, payment plans and
promises, cancellation and reinstatement, outside collections and charge-off. Reads balances and
aging from `billing_core.ledger.receivables`; posts through `billing_core.ledger`."""
