"""Pages of a list: the count and the one page of a read model's query (or of rows already in
memory), so the web edge asks for "page 3 of this list" and builds no query itself."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


@dataclass
class Page:
    """One page of a list: its `items`, which page (1-based) of how many, and the total."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def clamp_page(asked: int | None, total: int, per_page: int) -> int:
    """The page asked for, within 1..the last page (an empty list has one, empty, page)."""
    pages = max(1, math.ceil(total / per_page))
    return min(max(asked or 1, 1), pages)


def page_of(
    session: Session, query: Select, asked: int | None, per_page: int, *, rows: bool = False
) -> Page:
    """Page `asked` (clamped) of `query`, a read model's SELECT. Items are the first entity of
    each row, or whole rows (tuples) with `rows=True`."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = clamp_page(asked, total, per_page)
    limited = query.limit(per_page).offset((page - 1) * per_page)
    items = list(session.execute(limited).all() if rows else session.scalars(limited))
    return Page(items=items, page=page, per_page=per_page, total=total)


def page_of_list(items: list, asked: int | None, per_page: int) -> Page:
    """Page `asked` (clamped) of rows already read (a report, a list filtered in Python)."""
    page = clamp_page(asked, len(items), per_page)
    start = (page - 1) * per_page
    return Page(
        items=items[start : start + per_page], page=page, per_page=per_page, total=len(items)
    )
