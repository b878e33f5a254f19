"""``sleeptime keys``: the real CLI in a subprocess, against the test database."""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.auth import service
from app.auth.models import ApiKey, Organization
from app.blocks.models import Block
from app.config import AuthMode
from app.kit.db import Database
from tests.conftest import AppFactory
from tests.helpers import ok
from tests.processes import run_cli

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MISSING_KEY = "apikey-00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Created:
    key_id: str
    org_id: str
    secret: str


async def cli(database_url: str, *args: str) -> Result:
    env = {"SLEEPTIME_DATABASE_URL": database_url, "SLEEPTIME_LOG_LEVEL": "INFO"}
    return Result(*await run_cli(*args, env=env))


async def create(database_url: str, *args: str) -> tuple[Result, Created]:
    result = await cli(database_url, "keys", "create", *args)
    assert result.code == 0, result
    key_id = re.search(r"^key id:\s+(apikey-\S+)$", result.out, re.M)
    org = re.search(r"^organization:\s+.+ \((org-\S+)\)$", result.out, re.M)
    secret = re.search(r"^api key:\s+(\S+)$", result.out, re.M)
    assert key_id and org and secret, result.out
    return result, Created(key_id[1], org[1], secret[1])


async def issue(db: Database, org_name: str) -> Created:
    """A key made without the CLI, for tests about what the CLI does to existing keys."""
    async with db.session() as session:
        issued = await service.create_key(session, org_name=org_name, name=None)
    return Created(issued.key.id, issued.organization.id, issued.secret)


def list_line(result: Result, key_id: str) -> str:
    assert result.code == 0, result
    lines = [line for line in result.out.splitlines() if line.startswith(key_id)]
    assert len(lines) == 1, result.out
    return lines[0]


async def test_create_prints_the_key_once_and_stores_only_its_hash(
    database_url: str, db: Database
) -> None:
    result, created = await create(database_url, "--org", "acme", "--name", "laptop")
    assert created.secret.startswith("sk-slp-")
    assert len(created.secret) > len("sk-slp-") + 32
    assert result.out.count(created.secret) == 1
    assert created.secret not in result.err
    assert "not shown again" in result.out
    async with db.session() as session:
        key = await session.get(ApiKey, created.key_id)
        assert key is not None
        assert key.key_hash == hashlib.sha256(created.secret.encode()).hexdigest()
        assert created.secret.startswith(key.prefix)
        assert len(key.prefix) < len(created.secret) - 32
        assert (key.organization_id, key.name, key.revoked_at) == (created.org_id, "laptop", None)
        org = await session.get(Organization, created.org_id)
        assert org is not None and org.name == "acme"
        rows = (await session.execute(text("SELECT * FROM api_keys"))).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert created.secret not in stored
    assert created.secret.removeprefix("sk-slp-") not in stored
    assert created.secret[len(key.prefix) :] not in stored


async def test_keys_of_one_organization_share_it(database_url: str, db: Database) -> None:
    _, first = await create(database_url, "--org", "acme")
    _, second = await create(database_url, "--org", "acme")
    _, other = await create(database_url, "--org", "globex")
    assert first.org_id == second.org_id != other.org_id
    assert len({first.key_id, second.key_id, other.key_id}) == 3
    assert len({first.secret, second.secret, other.secret}) == 3


async def test_list_shows_id_and_prefix_never_the_secret(database_url: str, db: Database) -> None:
    _, created = await create(database_url, "--org", "acme", "--name", "laptop")
    async with db.session() as session:
        key = await session.get(ApiKey, created.key_id)
        assert key is not None
        prefix = key.prefix
    listing = await cli(database_url, "keys", "list")
    line = list_line(listing, created.key_id)
    assert prefix in line
    assert "org=acme" in line and "name=laptop" in line
    assert "active" in line and "revoked" not in line
    assert created.secret not in listing.out + listing.err
    assert created.secret[len(prefix) :] not in listing.out + listing.err


async def test_created_key_authenticates_and_acts_for_its_organization(
    database_url: str, db: Database, make_client: AppFactory
) -> None:
    _, created = await create(database_url, "--org", "acme")
    client = await make_client(auth=AuthMode.required)
    assert (await client.get("/v1/blocks/")).status_code == 401
    headers = {"Authorization": f"Bearer {created.secret}"}
    block = await ok(client.post("/v1/blocks/", json={"label": "human"}, headers=headers))
    assert await ok(client.get("/v1/blocks/", headers=headers)) == [block]
    async with db.session() as session:
        owner = await session.scalar(select(Block.organization_id).where(Block.id == block["id"]))
    assert owner == created.org_id


async def test_revoke_stops_the_key(
    database_url: str, db: Database, make_client: AppFactory
) -> None:
    revoked_key, kept = await issue(db, "acme"), await issue(db, "acme")
    client = await make_client(auth=AuthMode.required)
    headers = {"Authorization": f"Bearer {revoked_key.secret}"}
    assert await ok(client.get("/v1/blocks/", headers=headers)) == []

    revoked = await cli(database_url, "keys", "revoke", revoked_key.key_id)
    assert revoked.code == 0, revoked
    assert revoked_key.key_id in revoked.out
    listing = await cli(database_url, "keys", "list")
    assert "revoked" in list_line(listing, revoked_key.key_id)
    assert "active" in list_line(listing, kept.key_id)
    async with db.session() as session:
        key = await session.get(ApiKey, revoked_key.key_id)
        assert key is not None and key.revoked_at is not None

    response = await client.get("/v1/blocks/", headers=headers)
    assert response.status_code == 401, response.text
    kept_headers = {"Authorization": f"Bearer {kept.secret}"}
    assert await ok(client.get("/v1/blocks/", headers=kept_headers)) == []


@pytest.mark.parametrize("key_id", [MISSING_KEY, "not-a-key-id"])
async def test_revoking_an_unknown_key_fails_with_a_message(
    database_url: str, db: Database, key_id: str
) -> None:
    created = await issue(db, "acme")
    result = await cli(database_url, "keys", "revoke", key_id)
    assert result.code != 0, result
    message = result.out + result.err
    assert key_id in message and "not found" in message.lower(), result
    assert "Traceback" not in message
    assert "active" in list_line(await cli(database_url, "keys", "list"), created.key_id)


async def test_create_without_an_organization_is_refused(database_url: str, db: Database) -> None:
    result = await cli(database_url, "keys", "create")
    assert result.code != 0
    assert "--org" in result.err
    async with db.session() as session:
        assert (await session.scalars(select(ApiKey))).all() == []
