"""Resource ids: ``<prefix>-<uuid4>``, the format Letta uses and its SDK expects."""

import os
import re
import uuid
from enum import StrEnum
from functools import cache
from typing import Annotated

from fastapi import Path

_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


class Prefix(StrEnum):
    agent = "agent"
    block = "block"
    group = "group"
    message = "message"
    run = "run"
    step = "step"
    tool = "tool"
    org = "org"
    apikey = "apikey"
    mcp_server = "mcp_server"
    conversation = "conv"
    archive = "archive"
    passage = "passage"


# The version (4) and variant (RFC 4122) bits of a uuid4, over its 128 random bits.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_id(prefix: Prefix) -> str:
    """``<prefix>-<uuid4>``: what ``uuid.uuid4()`` makes, from the same random bytes, without
    building a ``UUID`` object on the way (ids are made several times per turn)."""
    h = "%032x" % (int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR | _UUID4_SET)
    return f"{prefix}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def id_pattern(prefix: Prefix) -> str:
    return rf"^{prefix}-{_UUID4}$"


def is_valid(prefix: Prefix, value: str) -> bool:
    return re.fullmatch(id_pattern(prefix), value) is not None


@cache
def stable_id(prefix: Prefix, name: str) -> str:
    """A fixed uuid4-shaped id derived from a name, for built-in objects such as tools."""
    raw = bytearray(uuid.uuid5(uuid.NAMESPACE_URL, f"sleeptime:{prefix}:{name}").bytes)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return f"{prefix}-{uuid.UUID(bytes=bytes(raw))}"


DEFAULT_ORG_ID = "org-00000000-0000-4000-8000-000000000000"


def _path_id(prefix: Prefix, description: str) -> object:
    return Path(pattern=id_pattern(prefix), description=description, examples=[new_id(prefix)])


AgentIdPath = Annotated[str, _path_id(Prefix.agent, "An agent id, `agent-<uuid4>`.")]
BlockIdPath = Annotated[str, _path_id(Prefix.block, "A block id, `block-<uuid4>`.")]
GroupIdPath = Annotated[str, _path_id(Prefix.group, "A group id, `group-<uuid4>`.")]
RunIdPath = Annotated[str, _path_id(Prefix.run, "A run id, `run-<uuid4>`.")]
ToolIdPath = Annotated[str, _path_id(Prefix.tool, "A tool id, `tool-<uuid4>`.")]
MCPServerIdPath = Annotated[
    str, _path_id(Prefix.mcp_server, "An MCP server id, `mcp_server-<uuid4>`.")
]
