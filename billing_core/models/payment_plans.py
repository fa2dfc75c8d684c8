"""Payment plans on an overdue balance and their installments (issue 20, item 6)."""

from __future__ import annotations

__all__: list[str] = []
