"""The process's run control, for routes that signal or wait on runs."""

from typing import Annotated

from fastapi import Depends, Request

from app.runs.control import RunControl


async def get_control(request: Request) -> RunControl:
    control: RunControl = request.app.state.control
    return control


ControlDep = Annotated[RunControl, Depends(get_control)]
