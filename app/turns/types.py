"""What the turn's parts share: their dependencies and the shapes a turn passes between its
intake and its execution."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.engine.loop import Engine, Prepared, TurnSpec
from app.kit.db import Database
from app.runs.admission import TurnGate
from app.runs.control import RunControl
from app.runs.lifecycle import RunKind
from app.runs.models import Run
from app.streaming.hub import Hub
from app.turns.callbacks import RunCallbacks
from app.turns.finish import SleeptimeTrigger


@dataclass(frozen=True, slots=True)
class TurnDeps:
    db: Database
    engine: Engine
    gate: TurnGate
    settings: Settings
    control: RunControl
    hub: Hub
    callbacks: RunCallbacks
    sleeptime: SleeptimeTrigger  # queues sleeptime runs in a finished turn's transaction


@dataclass(frozen=True, slots=True)
class Intake:
    """How a request enters: as a foreground turn or a queued (async) one."""

    kind: RunKind = RunKind.foreground
    group_id: str | None = None
    key: str | None = None
    digest: str | None = None
    run_id: str | None = None  # chosen before acceptance when a stream announces it early
    callback_url: str | None = None  # POSTed the outcome when the run ends (async runs)
    conversation_id: str | None = None  # the thread: a conversation, or the main one (None)


@dataclass(frozen=True, slots=True)
class StreamPlan:
    run_id: str
    begin: Callable[[], Coroutine[Any, Any, None]] | None  # None: the run exists; follow it


@dataclass(frozen=True, slots=True)
class Accepted:
    """A turn durably accepted: its run and input messages are committed."""

    run: Run
    spec: TurnSpec
    first: Prepared | None  # the first step's context, read in the acceptance transaction
    resumed: list[dict[str, Any]]  # tool returns produced by resolving a pending approval
