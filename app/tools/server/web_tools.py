"""The web tools among Letta's server-side built-ins (``ToolKind.server``):
``fetch_webpage`` and ``web_search``. Each is an ``ExternalHandler``: it runs outside any
transaction and answers every failure with an error result."""

from contextlib import AsyncExitStack

import httpx

from app.config import Settings
from app.tools.server.search import WebSearch
from app.tools.server.web import PageFetcher, fetch_client
from app.tools.toolset import ExternalHandler


def web_handlers(
    settings: Settings, http: httpx.AsyncClient, stack: AsyncExitStack
) -> dict[str, ExternalHandler]:
    """The web tools by name, for the process: searches go through the shared client
    ``http`` (their backends are the operator's), fetches through a client of their own,
    closed with ``stack``."""
    fetches = fetch_client(settings)
    stack.push_async_callback(fetches.aclose)
    return {
        "fetch_webpage": PageFetcher(settings, fetches),
        "web_search": WebSearch(settings, http),
    }
