"""Outside collections (referrals, recoveries), charge-off and bankruptcy (issue 20, items 8-9)."""

from __future__ import annotations

__all__: list[str] = []
