"""Imports every ORM model so ``Base.metadata`` is complete (for Alembic and the schema test)."""

from app.agents.models import Agent, AgentTag
from app.archival.models import Archive, ArchiveAgent, Passage, PassageTag
from app.auth.models import ApiKey, Organization
from app.blocks.models import AgentBlock, Block, BlockHistory
from app.conversations.models import Conversation
from app.groups.models import Group, GroupAgent
from app.kit.db import Base
from app.mcp.models import MCPServer
from app.messages.models import Message
from app.runs.models import Run, RunEvent, Step
from app.tools.models import Tool

__all__ = [
    "Agent",
    "AgentBlock",
    "AgentTag",
    "ApiKey",
    "Archive",
    "ArchiveAgent",
    "Base",
    "Block",
    "BlockHistory",
    "Conversation",
    "Group",
    "GroupAgent",
    "MCPServer",
    "Message",
    "Organization",
    "Passage",
    "PassageTag",
    "Run",
    "RunEvent",
    "Step",
    "Tool",
]
