"""Billing: what a group owes for a month and why.

Owns coverage months and the 15th-of-month rule (`enrollment`), the premium of one
member-product line on every rating basis (`rating`), the premium of one member-month wherever
it is priced (`premium`), the billing run, issuing and voids (`invoicing`), premium differences
for months already billed and the retro window (`retro`), future-bill adjustments
(`adjustments`), why an invoice differs from the last one (`bill_bridge`), and the read models
of invoices and groups for the screens (`invoices`, `groups`)."""
