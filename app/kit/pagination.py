"""Cursor paging the way Letta clients page: ``after``/``before`` are ids of listed items.

Every list route pages the same way. ``after=X`` returns the items that follow X in the
listing order, ``before=X`` the items just ahead of it (still in listing order), both together
the items between them, and ``limit`` caps the page. The SDKs walk forward with
``after=<last id>`` (backward with ``before=<first id>``) until a page comes back empty, so a
route that ignored a cursor would be walked forever. Rows are ordered by ``(created_at, id)``,
a total order, so pages never skip or repeat one; lists that are not rows (built-in tools,
tags) go through ``page_sorted`` with a key of their own.

Message lists are the one exception, as in Letta: their cursors are chronological whatever
the ``order`` (see ``app.messages.listing``).
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Query
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.kit.errors import BadRequest


class Order(StrEnum):
    asc = "asc"
    desc = "desc"


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    order: Order = Order.desc
    before: str | None = None
    after: str | None = None


class Pageable(Protocol):
    id: InstrumentedAttribute[str]
    organization_id: InstrumentedAttribute[str]
    created_at: InstrumentedAttribute[datetime]


T = TypeVar("T")
K = TypeVar("K", str, int)


def page_params(default_limit: int, default_order: Order) -> Callable[..., PageParams]:
    """A dependency reading ``before, after, limit, order`` with this route's defaults."""

    def dependency(
        before: Annotated[str | None, Query(description="Return items before this id.")] = None,
        after: Annotated[str | None, Query(description="Return items after this id.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = default_limit,
        order: Annotated[Order, Query()] = default_order,
    ) -> PageParams:
        return PageParams(limit=limit, order=order, before=before, after=after)

    return dependency


async def _cursor_key(
    session: AsyncSession, entity: Any, organization_id: str, cursor: str, name: str
) -> tuple[datetime, str]:
    row = (
        await session.execute(
            select(entity.created_at, entity.id).where(
                entity.id == cursor, entity.organization_id == organization_id
            )
        )
    ).first()
    if row is None:
        raise BadRequest(f"{name}: no item with id {cursor!r} to page from")
    return row[0], row[1]


def _beyond(entity: Any, key: tuple[datetime, str], *, greater: bool) -> Any:
    created, ident = key
    if greater:
        return or_(
            entity.created_at > created, and_(entity.created_at == created, entity.id > ident)
        )
    return or_(entity.created_at < created, and_(entity.created_at == created, entity.id < ident))


async def paginate(
    session: AsyncSession,
    stmt: Select[T],
    *,
    entity: Any,
    organization_id: str,
    params: PageParams,
) -> Sequence[T]:
    descending = params.order is Order.desc
    if params.after is not None:
        key = await _cursor_key(session, entity, organization_id, params.after, "after")
        stmt = stmt.where(_beyond(entity, key, greater=not descending))
    if params.before is not None:
        key = await _cursor_key(session, entity, organization_id, params.before, "before")
        stmt = stmt.where(_beyond(entity, key, greater=descending))
    # A page "before" a cursor holds the items nearest to it: fetch backwards, then flip.
    backwards = params.before is not None and params.after is None
    fetch_descending = descending != backwards
    columns = (entity.created_at, entity.id)
    stmt = stmt.order_by(*(c.desc() if fetch_descending else c.asc() for c in columns))
    rows = (await session.scalars(stmt.limit(params.limit))).all()
    return list(reversed(rows)) if backwards else rows


def page_sorted(
    items: Iterable[T],
    params: PageParams,
    *,
    key: Callable[[T], K],
    cursor: Callable[[str, str], K],
) -> list[T]:
    """``paginate`` for a list held in memory: ``key`` orders the items ascending (it must be
    unique), ``cursor(value, name)`` turns an ``after``/``before`` value into a key (or
    raises a 400 naming ``name``)."""
    descending = params.order is Order.desc
    ordered = sorted(items, key=key, reverse=descending)
    if params.after is not None:
        low = cursor(params.after, "after")
        ordered = [i for i in ordered if (key(i) < low if descending else key(i) > low)]
    if params.before is not None:
        high = cursor(params.before, "before")
        ordered = [i for i in ordered if (key(i) > high if descending else key(i) < high)]
    if params.before is not None and params.after is None:
        return ordered[-params.limit :]  # the items nearest the cursor, in listing order
    return ordered[: params.limit]
