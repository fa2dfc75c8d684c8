"""Future-bill adjustments: the reason codes they carry and how they read on an invoice.

Approved adjustments that are not yet billed land on the group's next invoice: reason codes in
`FEE_REASONS` in the fees section, every other code in the retro section."""

from __future__ import annotations

REASONS: dict[str, str] = {
    "late_add": "Late-reported addition",
    "late_term": "Late-reported termination",
    "tier_change": "Coverage tier change",
    "plan_change": "Plan or class change",
    "salary_change": "Salary or volume change",
    "rate_correction": "Rate correction",
    "dependent_change": "Dependent change",
    "reinstatement": "Reinstatement",
    "cobra": "COBRA continuation",
    "manual": "Manual adjustment",
    "late_fee": "Late payment fee",
    "returned_payment_fee": "Returned payment fee",
    "reinstatement_fee": "Reinstatement fee",
}

FEE_REASONS = frozenset({"late_fee", "returned_payment_fee", "reinstatement_fee"})

SOURCES: dict[str, str] = {
    "upload": "census upload",
    "remittance": "self-bill remittance",
    "manual": "entered by billing staff",
    "void": "re-billed after a void",
}


def reason_label(code: str | None) -> str:
    """Plain words for a reason code (the code itself when unknown)."""
    if not code:
        return ""
    return REASONS.get(code, code.replace("_", " ").capitalize())


def source_label(source_type: str | None) -> str:
    return SOURCES.get(source_type or "", source_type or "")
