"""Letta's agent file routes: ``GET|POST /v1/agents/{agent_id}/export`` and
``POST /v1/agents/import`` (multipart: the file and Letta's form options)."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from app.agentfile.export import export_agent
from app.agentfile.importer import ImportOptions
from app.agentfile.restore import import_file
from app.agentfile.schemas import ExportAgentRequest, ImportedAgentsResponse
from app.auth.deps import ActorDep
from app.kit.deps import SessionDep, SettingsDep
from app.kit.errors import BadRequest
from app.kit.ids import AgentIdPath
from app.providers.registry import ProviderRegistry

router = APIRouter(prefix="/v1/agents", tags=["agents"])

# The agent's main thread, as conversation routes name it.
DEFAULT_CONVERSATION = "default"


class IndentedJSONResponse(JSONResponse):
    """The file as Letta answers it: JSON indented by two spaces."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, indent=2, ensure_ascii=False).encode()


def _registry(request: Request) -> ProviderRegistry:
    registry: ProviderRegistry = request.app.state.providers
    return registry


def _conversation(conversation_id: str | None) -> str | None:
    """A conversation to export instead of the main thread (``default`` names the main one)."""
    return None if conversation_id in (None, DEFAULT_CONVERSATION) else conversation_id


@router.get("/{agent_id}/export", response_class=IndentedJSONResponse)
async def export_agent_file(
    agent_id: AgentIdPath,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    max_steps: Annotated[int, Query(deprecated=True, description="Ignored, as Letta does.")] = 100,
    use_legacy_format: Annotated[
        bool, Query(deprecated=True, description="The legacy v1 format is not supported.")
    ] = False,
    conversation_id: str | None = None,
    scrub_messages: bool = False,
    include_archives: Annotated[
        bool, Query(description="Carry the agents' archives and passages (extension).")
    ] = False,
) -> IndentedJSONResponse:
    """The agent (with its sleeptime agents and group) as an agent file."""
    if use_legacy_format:
        raise BadRequest("use_legacy_format: the legacy format is not supported")
    data = await export_agent(
        session,
        actor,
        agent_id,
        _registry(request),
        scrub_messages=scrub_messages,
        conversation_id=_conversation(conversation_id),
        include_archives=include_archives,
    )
    return IndentedJSONResponse(data)


@router.post("/{agent_id}/export", response_class=IndentedJSONResponse)
async def export_agent_file_with_skills(
    agent_id: AgentIdPath,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    body: Annotated[ExportAgentRequest | None, Body()] = None,
) -> IndentedJSONResponse:
    """The same, with ``skills`` to carry in the file."""
    body = body or ExportAgentRequest()
    data = await export_agent(
        session,
        actor,
        agent_id,
        _registry(request),
        scrub_messages=body.scrub_messages,
        skills=body.skills,
        conversation_id=_conversation(body.conversation_id),
        include_archives=body.include_archives,
    )
    return IndentedJSONResponse(data)


def _secrets(secrets: str | None) -> dict[str, str]:
    if not secrets:
        return {}
    try:
        value = json.loads(secrets)
    except json.JSONDecodeError as exc:
        raise BadRequest("secrets must be a valid JSON string (an object)") from exc
    if not isinstance(value, dict):
        raise BadRequest("secrets must be a valid JSON string (an object)")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


@router.post("/import", response_model=ImportedAgentsResponse)
async def import_agent_file(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The agent file (.af)")],
    append_copy_suffix: Annotated[bool, Form()] = True,
    override_existing_tools: Annotated[bool, Form()] = True,
    strip_messages: Annotated[bool, Form()] = False,
    secrets: Annotated[str | None, Form()] = None,
    env_vars_json: Annotated[str | None, Form(deprecated=True)] = None,
    name: Annotated[str | None, Form(max_length=255)] = None,
    override_name: Annotated[str | None, Form(max_length=255, deprecated=True)] = None,
    model: Annotated[str | None, Form(max_length=255)] = None,
    override_model_handle: Annotated[str | None, Form(max_length=255, deprecated=True)] = None,
    embedding: Annotated[str | None, Form(max_length=255)] = None,
    override_embedding_handle: Annotated[str | None, Form(max_length=255, deprecated=True)] = None,
    project_id: Annotated[str | None, Form(deprecated=True)] = None,
    x_override_embedding_model: Annotated[
        str | None, Header(alias="x-override-embedding-model")
    ] = None,
) -> ImportedAgentsResponse:
    """Recreate the file's agents (every id new, all or nothing); their ids, in file order."""
    options = ImportOptions(
        append_copy_suffix=append_copy_suffix,
        override_existing_tools=override_existing_tools,
        strip_messages=strip_messages,
        name=name or override_name or None,
        model=model or override_model_handle or None,
        embedding=embedding or override_embedding_handle or x_override_embedding_model or None,
        secrets=_secrets(secrets or env_vars_json),
    )
    raw = await file.read()
    return await import_file(session, actor, raw, options, _registry(request), settings)
