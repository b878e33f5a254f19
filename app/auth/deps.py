"""Who is calling: the actor, resolved from the API key or the default organization."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

from app.auth import service
from app.config import AuthMode
from app.kit.deps import DatabaseDep, SettingsDep
from app.kit.errors import Unauthorized
from app.kit.ids import DEFAULT_ORG_ID


@dataclass(frozen=True, slots=True)
class Actor:
    organization_id: str


_DEFAULT_ACTOR = Actor(organization_id=DEFAULT_ORG_ID)


async def get_actor(
    db: DatabaseDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Actor:
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
