"""The process's stream follower, for routes that answer with a run's events."""

from typing import Annotated

from fastapi import Depends, Request

from app.streaming.follow import Follower


async def get_follower(request: Request) -> Follower:
    follower: Follower = request.app.state.runtime.follower
    return follower


FollowerDep = Annotated[Follower, Depends(get_follower)]
