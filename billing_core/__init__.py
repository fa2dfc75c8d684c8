"""The billing domain: rating, enrollment, invoicing, ledger, payments. Framework-free."""
