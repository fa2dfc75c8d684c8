"""Commission schedules, earnings, runs and agency payments (issue 21)."""

from __future__ import annotations

__all__: list[str] = []
