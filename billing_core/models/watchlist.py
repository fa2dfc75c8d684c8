"""The credit-control watchlist (issue 20, item 10)."""

from __future__ import annotations

__all__: list[str] = []
