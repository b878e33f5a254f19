"""Where memory-tool edits go.

``DirectMemory`` writes each edit through the block write path inside the step's transaction
(a foreground turn). ``StagedMemory`` keeps a run's edits in memory and applies them all in
the run's final transaction (a sleeptime run), so a failed, cancelled or crashed attempt
leaves no edit behind. If someone changed a block meanwhile, the run's edit operations are
replayed on the fresh value instead of overwriting it; if they no longer apply, the commit
refuses (``StagedConflictError``) and the run is retried from scratch.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.blocks import memory_edits
from app.blocks import service as blocks_service
from app.blocks.models import Block
from app.blocks.repository import BlockRepository
from app.blocks.schemas import BlockUpdate
from app.kit.errors import BlockLimitExceeded
from app.tools.result import Write


class MemoryView(Protocol):
    """What rendering a block into the prompt, and staging edits over it, read."""

    @property
    def label(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def description(self) -> str | None: ...
    @property
    def read_only(self) -> bool: ...


Edit = Callable[[str, str], str]  # (current value, label) -> new value


class EditFailedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StagedConflictError(Exception):
    """A block changed under a staged run and its edits no longer apply."""


class MemoryWriter(Protocol):
    async def edit(self, label: str, edit: Edit) -> str: ...


def _apply(label: str, value: str, limit: int, edit: Edit) -> str:
    try:
        new_value = edit(value, label)
        blocks_service.check_limit(label, new_value, limit)
    except memory_edits.EditRejected as exc:
        raise EditFailedError(exc.message) from None
    except BlockLimitExceeded as exc:
        raise EditFailedError(exc.message) from None
    return new_value


class DirectMemory:
    def __init__(
        self, session: AsyncSession, organization_id: str, agent_id: str, run_id: str | None
    ):
        self.repo = BlockRepository(session, organization_id)
        self.source = blocks_service.ChangeSource("agent", agent_id, run_id)
        self.agent_id = agent_id

    async def edit(self, label: str, edit: Edit) -> str:
        block = await self.repo.get_by_label(self.agent_id, label, for_update=True)
        if block is None:
            raise EditFailedError(f"Error: there is no memory block labelled `{label}`.")
        if block.read_only:
            raise EditFailedError(memory_edits.READ_ONLY)
        new_value = _apply(label, block.value, block.limit, edit)
        await blocks_service.write(self.repo, block, BlockUpdate(value=new_value), self.source)
        return new_value


@dataclass(frozen=True, slots=True)
class StagedBlock:
    id: str
    label: str
    value: str
    limit: int
    description: str | None
    read_only: bool
    version: int

    @classmethod
    def of(cls, block: Block) -> "StagedBlock":
        return cls(
            block.id,
            block.label,
            block.value,
            block.limit,
            block.description,
            block.read_only,
            block.version,
        )


class StagedMemory:
    def __init__(self, blocks: Sequence[Block]) -> None:
        self.original = {b.label: StagedBlock.of(b) for b in blocks}
        self.current = dict(self.original)
        self.log: list[tuple[str, Edit]] = []
        self.writes: list[Write] = []  # other writes of the run's tools (archival inserts)

    def defer(self, write: Write) -> None:
        """Make ``write`` with the staged edits, in the run's final transaction."""
        self.writes.append(write)

    async def edit(self, label: str, edit: Edit) -> str:
        block = self.current.get(label)
        if block is None:
            raise EditFailedError(f"Error: there is no memory block labelled `{label}`.")
        if block.read_only:
            raise EditFailedError(memory_edits.READ_ONLY)
        new_value = _apply(label, block.value, block.limit, edit)
        self.current[label] = replace(block, value=new_value)
        self.log.append((label, edit))
        return new_value

    def overlay(self, blocks: Sequence[MemoryView]) -> list[MemoryView]:
        """The blocks as this run sees them: its staged values over the stored ones."""
        return [self.current.get(b.label, b) for b in blocks]

    @property
    def changed(self) -> bool:
        return bool(self.log)

    async def commit(
        self, session: AsyncSession, organization_id: str, agent_id: str, run_id: str
    ) -> None:
        """Write every staged block in the caller's transaction."""
        repo = BlockRepository(session, organization_id)
        source = blocks_service.ChangeSource("agent", agent_id, run_id)
        for label in dict.fromkeys(label for label, _ in self.log):
            staged, before = self.current[label], self.original[label]
            fresh = await repo.get(staged.id, for_update=True)
            if fresh is None:
                continue  # the block was deleted meanwhile: nothing to write into
            value = staged.value
            if fresh.version != before.version or fresh.label != label:
                value = self._replay(fresh, label)
            await blocks_service.write(repo, fresh, BlockUpdate(value=value), source)
        for deferred in self.writes:
            await deferred(session)

    def _replay(self, fresh: Block, label: str) -> str:
        value = fresh.value
        for edit_label, edit in self.log:
            if edit_label == label:
                try:
                    value = _apply(fresh.label, value, fresh.limit, edit)
                except EditFailedError as exc:
                    raise StagedConflictError(
                        f"block {label!r} changed during the run and an edit no longer "
                        f"applies: {exc.message}"
                    ) from None
        return value
