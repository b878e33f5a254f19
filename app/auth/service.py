"""Organizations and API keys.

A key is ``sk-slp-`` plus 32 random bytes (urlsafe base64). Only its SHA-256 digest is
stored: the key itself has 256 bits of entropy, so a fast digest is as strong as a slow
password hash here and keeps the per-request lookup to one indexed query.
"""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey, Organization
from app.kit.db import utcnow
from app.kit.errors import NotFound
from app.kit.ids import Prefix, new_id

KEY_PREFIX = "sk-slp-"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str
    organization: Organization


async def get_or_create_organization(session: AsyncSession, name: str) -> Organization:
    org = await session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(id=new_id(Prefix.org), name=name, created_at=utcnow())
        session.add(org)
        await session.flush()
    return org


async def create_key(session: AsyncSession, *, org_name: str, name: str | None) -> IssuedKey:
    org = await get_or_create_organization(session, org_name)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id(Prefix.apikey),
        organization_id=org.id,
        name=name,
        prefix=secret[: len(KEY_PREFIX) + 6],
        key_hash=hash_key(secret),
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, secret=secret, organization=org)


async def list_keys(session: AsyncSession) -> Sequence[tuple[ApiKey, str]]:
    rows = await session.execute(
        select(ApiKey, Organization.name)
        .join(Organization, Organization.id == ApiKey.organization_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return [(key, org_name) for key, org_name in rows]


async def revoke_key(session: AsyncSession, key_id: str) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    await session.flush()
    return key


async def organization_for_secret(session: AsyncSession, secret: str) -> str | None:
    """The organization id the key belongs to, or None for an unknown or revoked key."""
    return await session.scalar(
        select(ApiKey.organization_id).where(
            ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None)
        )
    )
