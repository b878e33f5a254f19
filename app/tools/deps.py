from typing import Annotated

from fastapi import Depends, Request

from app.tools.run import ToolRunners


async def get_tool_runners(request: Request) -> ToolRunners:
    runners: ToolRunners = request.app.state.tools
    return runners


ToolRunnersDep = Annotated[ToolRunners, Depends(get_tool_runners)]
