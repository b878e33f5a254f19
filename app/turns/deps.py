from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.streaming.follow import Follower
from app.turns.callbacks import RunCallbacks
from app.turns.service import TurnService


async def get_turns(request: Request) -> TurnService:
    turns: TurnService = request.app.state.turns
    return turns


async def get_callbacks(request: Request) -> RunCallbacks:
    callbacks: RunCallbacks = request.app.state.runtime.callbacks
    return callbacks


@dataclass(frozen=True, slots=True)
class TurnRoute:
    """What an agent's send and stream routes use, read from the app's state in one
    dependency: FastAPI resolves each dependency on every request, and these are the
    busiest routes."""

    turns: TurnService
    follower: Follower
    settings: Settings


async def get_turn_route(request: Request) -> TurnRoute:
    state = request.app.state
    return TurnRoute(state.turns, state.runtime.follower, state.settings)


TurnRouteDep = Annotated[TurnRoute, Depends(get_turn_route)]
TurnsDep = Annotated[TurnService, Depends(get_turns)]
CallbacksDep = Annotated[RunCallbacks, Depends(get_callbacks)]
