"""The official SDKs, against a live server, walk every list to its end with their own
paginators: Python 1.12.x (the project's), Python 1.7.0 (the last with groups) and
TypeScript. Each walk must give exactly the list in one page: nothing repeated, nothing
missed, and it must end."""

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import letta_client
import pytest

from tests.lists import PAGE
from tests.sdk import harness
from tests.sdk.conftest import Live

WALK_PY = harness.PY_DIR / "walk_lists.py"
WALK_TS = harness.TS_DIR / "walk_lists.mjs"


def check(live: Live, answer: dict[str, Any]) -> None:
    assert set(answer["walks"]) == set(live.walks)
    for name, items in live.walks.items():
        assert answer["walks"][name] == items, name
    assert answer["unpaged"] == {"models": live.models, "embedding_models": []}


def request(live: Live) -> dict[str, Any]:
    return {"base_url": live.base_url, "world": asdict(live.world), "page": PAGE}


def test_python_sdk_walks_every_list(live: Live) -> None:
    answer = harness.run_script(sys.executable, WALK_PY, request(live))
    assert answer["version"] == letta_client.__version__
    check(live, answer)


def test_python_sdk_1_7_0_walks_every_list(live: Live, python_sdk_1_7_0: Path) -> None:
    answer = harness.run_script(python_sdk_1_7_0, WALK_PY, request(live))
    assert answer["version"] == "1.7.0"
    check(live, answer)


def test_typescript_sdk_walks_every_list(live: Live, node: str) -> None:
    answer = harness.run_script(node, WALK_TS, request(live))
    assert answer["version"] == harness._locked_version()
    check(live, answer)


def test_a_missing_node_fails_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.fail.Exception, match="apt-get install nodejs npm"):
        harness.typescript_sdk()
