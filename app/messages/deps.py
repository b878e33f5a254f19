from typing import Annotated

from fastapi import Depends, Request

from app.messages.service import TurnService


def get_turns(request: Request) -> TurnService:
    turns: TurnService = request.app.state.turns
    return turns


TurnsDep = Annotated[TurnService, Depends(get_turns)]
