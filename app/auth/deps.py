"""Who is calling: the actor, resolved from the API key or the default organization."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from app.auth import service
from app.config import AuthMode, Settings
from app.kit.db import Database
from app.kit.errors import Unauthorized
from app.kit.ids import DEFAULT_ORG_ID


@dataclass(frozen=True, slots=True)
class Actor:
    organization_id: str


_DEFAULT_ACTOR = Actor(organization_id=DEFAULT_ORG_ID)


async def get_actor(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Actor:
    """The request's actor. One dependency that reads the app's state itself: each
    sub-dependency costs FastAPI a resolution on every request of every route."""
    state = request.app.state
    return await resolve_actor(state.db, state.settings, authorization)


async def resolve_actor(db: Database, settings: Settings, authorization: str | None) -> Actor:
    # Letta's `user_id` header is accepted and ignored: scoping comes from the key alone.
    if settings.auth is AuthMode.disabled:
        return _DEFAULT_ACTOR
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Unauthorized: send `Authorization: Bearer <api key>`")
    # Its own short read: the request's unit of work (if any) is not opened for this.
    async with db.session(write=False) as session:
        organization_id = await service.organization_for_secret(session, secret.strip())
    if organization_id is None:
        raise Unauthorized("Unauthorized: unknown or revoked API key")
    return Actor(organization_id=organization_id)


ActorDep = Annotated[Actor, Depends(get_actor)]
