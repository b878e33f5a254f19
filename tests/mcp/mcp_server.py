"""An MCP server for the tests, built with the official SDK: run as a stdio subprocess
(``python tests/mcp/mcp_server.py``) or served over streamable HTTP in the test process
(``build()``).

Tools: ``add`` and ``echo`` answer, ``fail`` raises (an error result), ``slow`` waits for
``seconds``, ``pid`` tells which process answers (to see a restarted server), ``env`` reads
one environment variable (to see what a stdio server inherits).
"""

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError


def build() -> MCPServer:
    server = MCPServer("sleeptime-test-server", log_level="ERROR")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Say the text back.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Always fails.")
    def fail(reason: str = "it always fails") -> str:
        raise ToolError(reason)

    @server.tool(description="Sleep, then answer.")
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(description="The server process id.")
    def pid() -> int:
        return os.getpid()

    @server.tool(description="An environment variable of the server process.")
    def env(name: str) -> str:
        return os.environ.get(name, "<unset>")

    extra = os.environ.get("SLEEPTIME_TEST_MCP_EXTRA_TOOL")
    if extra:

        @server.tool(name=extra, description="A tool named by the environment.")
        def named() -> str:
            return extra

    return server


if __name__ == "__main__":
    build().run("stdio")
    sys.exit(0)
