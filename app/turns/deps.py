from typing import Annotated

from fastapi import Depends, Request

from app.turns.callbacks import RunCallbacks
from app.turns.service import TurnService


async def get_turns(request: Request) -> TurnService:
    turns: TurnService = request.app.state.turns
    return turns


async def get_callbacks(request: Request) -> RunCallbacks:
    callbacks: RunCallbacks = request.app.state.runtime.callbacks
    return callbacks


TurnsDep = Annotated[TurnService, Depends(get_turns)]
CallbacksDep = Annotated[RunCallbacks, Depends(get_callbacks)]
