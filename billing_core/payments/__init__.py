"""Payments: every source (Stripe, staff, bank and lockbox files, 820 remittances) becomes one
Payment; receipts, allocation, suspense, returns and refunds post to the ledger."""
