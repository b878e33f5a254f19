"""Pages of a message list, as Letta pages them, that a client can walk to the end.

Cursors are chronological whatever the ``order`` (``after=X``: newer than X), ``order=desc``
picks the newest page, and each page is returned oldest first; ``limit`` counts stored
messages. Two things make every walk reach the end:

- ``before=X`` alone picks the messages just before X, whatever the order (Letta picks the
  oldest ones with ``order=asc``, so a backward walk in that order stopped after one page).
- A stored message can render to no Letta message at all (a filtered type, a hidden tool
  return), and an SDK stops at the first empty page: a page whose stored messages all render
  to nothing is not returned while more remain; the next ones in the walk's direction are
  read instead.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.kit.pagination import Order
from app.messages.models import Message
from app.messages.repository import ALL_THREADS, MessageRepository

Render = Callable[[list[Message]], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class MessagePage:
    limit: int
    order: Order
    after: str | None = None
    before: str | None = None
    group_id: str | None = None
    run_id: str | None = None
    conversation_id: str | None = ALL_THREADS  # one thread (None: the main one), or all


async def letta_page(
    repo: MessageRepository, agent_id: str, page: MessagePage, render: Render
) -> list[dict[str, Any]]:
    after, before = page.after, page.before
    backwards = before is not None and after is None
    order = Order.desc if backwards else page.order
    while True:
        stored = await repo.list_page(
            agent_id,
            limit=page.limit,
            order=order,
            after=after,
            before=before,
            group_id=page.group_id,
            run_id=page.run_id,
            conversation_id=page.conversation_id,
        )
        rendered = await render(stored)
        if rendered or len(stored) < page.limit:
            return rendered
        # Every stored message of this page rendered to nothing: read on past them.
        if order is Order.desc and after is None:
            before = stored[0].id  # the page was the newest ones before `before`: go older
        else:
            after = stored[-1].id
