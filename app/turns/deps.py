from typing import Annotated

from fastapi import Depends, Request

from app.streaming.follow import Follower
from app.turns.callbacks import RunCallbacks
from app.turns.service import TurnService
from app.worker.control import RunControl


def get_turns(request: Request) -> TurnService:
    turns: TurnService = request.app.state.turns
    return turns


def get_control(request: Request) -> RunControl:
    control: RunControl = request.app.state.control
    return control


def get_callbacks(request: Request) -> RunCallbacks:
    callbacks: RunCallbacks = request.app.state.runtime.callbacks
    return callbacks


def get_follower(request: Request) -> Follower:
    follower: Follower = request.app.state.runtime.follower
    return follower


TurnsDep = Annotated[TurnService, Depends(get_turns)]
FollowerDep = Annotated[Follower, Depends(get_follower)]
ControlDep = Annotated[RunControl, Depends(get_control)]
CallbacksDep = Annotated[RunCallbacks, Depends(get_callbacks)]
