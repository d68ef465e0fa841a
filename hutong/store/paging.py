"""Lists that people page through: one query for a page of rows and one for the count, sorted on a
column the caller names from a fixed set (never raw input in ORDER BY), filtered in SQL. Services use it
for the console's tables, which must stay fast at tens of thousands of rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class ListQuery:
    """What a person asked a list for: a page, an order, a free-text filter and named filters."""

    page: int = 1
    per_page: int = 25
    sort: str = ""
    descending: bool = False
    text: str = ""
    filters: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "page", max(1, self.page))
        object.__setattr__(self, "per_page", min(max(1, self.per_page), MAX_PER_PAGE))
        object.__setattr__(self, "text", self.text.strip()[:200])

    def at(self, page: int) -> ListQuery:
        return replace(self, page=page)

    def sorted_by(self, column: str) -> ListQuery:
        """Sorting by the column already sorted on flips the direction; another column starts ascending."""
        return replace(
            self, sort=column, descending=not self.descending if column == self.sort else False, page=1
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    query: ListQuery
    sort: str  # the column actually sorted on (the default when the query named none or an unknown one)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.query.page - 1) * self.query.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.query.page * self.query.per_page)


def page_of(
    s: Session,
    stmt: Select,
    query: ListQuery,
    *,
    columns: Mapping[str, Any],
    default: str,
    row: Callable[[Any], T],
    tiebreak: Any = None,
) -> Page[T]:
    """``stmt`` already carries the caller's ownership and filter conditions; ``columns`` maps sort names
    to columns; ``row`` turns a result row (or entity, for single-entity selects) into what the page holds."""
    sort = query.sort if query.sort in columns else default
    total = s.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    column = columns[sort]
    order = [column.desc() if query.descending else column.asc()]
    if tiebreak is not None:
        order.append(tiebreak.desc() if query.descending else tiebreak.asc())
    last_page = max(1, -(-total // query.per_page))
    query = query if query.page <= last_page else query.at(last_page)
    result = s.execute(stmt.order_by(*order).limit(query.per_page).offset((query.page - 1) * query.per_page))
    single = len(stmt.column_descriptions) == 1  # one entity or one column: hand over the object itself
    items = [row(r) for r in (result.scalars() if single else result)]
    return Page(items, total, query, sort)


def contains(column: Any, text: str):
    """A case-insensitive substring condition in which ``%`` and ``_`` in the text mean themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")
