"""One organization never reaches another's archives or passages: their ids answer as ids
that do not exist, and searches never return them."""

import httpx

from app.auth import service
from app.config import AuthMode
from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from tests.conftest import MODEL, AppFactory


async def _client(make_client: AppFactory, db: Database, org: str) -> httpx.AsyncClient:
    async with db.session() as session:
        issued = await service.create_key(session, org_name=org, name=None)
    client = await make_client(auth=AuthMode.required, dispatcher=False)
    client.headers["Authorization"] = f"Bearer {issued.secret}"
    return client


async def test_archives_and_passages_stay_in_their_organization(
    make_client: AppFactory, db: Database
) -> None:
    a, b = await _client(make_client, db, "a"), await _client(make_client, db, "b")
    archive = (await a.post("/v1/archives/", json={"name": "secret"})).json()["id"]
    [passage] = (
        await a.post(f"/v1/archives/{archive}/passages/batch", json={"passages": [{"text": "x"}]})
    ).json()
    theirs = (await b.post("/v1/agents/", json={"model": MODEL, "memory_blocks": []})).json()["id"]

    for archive_id, passage_id in (
        (archive, passage["id"]),
        (new_id(Prefix.archive), new_id(Prefix.passage)),
    ):
        assert (await b.get(f"/v1/archives/{archive_id}")).status_code == 404
        assert (
            await b.delete(f"/v1/archives/{archive_id}/passages/{passage_id}")
        ).status_code == 404
        attach = await b.patch(f"/v1/agents/{theirs}/archives/attach/{archive_id}")
        assert attach.status_code == 404
        found = await b.post("/v1/passages/search", json={"archive_id": archive_id, "query": "x"})
        assert found.status_code == 404
    assert (await b.get("/v1/archives/")).json() == []
    assert len((await a.get(f"/v1/archives/{archive}/passages")).json()) == 1
