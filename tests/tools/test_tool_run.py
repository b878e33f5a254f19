"""``POST /v1/tools/run``: Python source run once in the sandbox, answered as Letta's
ToolExecutionResult; and tools with ``pip_requirements``, installed (offline, from a wheel
made here) only when the setting allows it."""

import base64
import hashlib
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import AppFactory
from tests.helpers import ok

ADD = "def add(a: int, b: int) -> int:\n    print('adding')\n    return a + b\n"


async def test_runs_source_with_its_args_and_prints(client: httpx.AsyncClient) -> None:
    result = await ok(
        client.post("/v1/tools/run", json={"source_code": ADD, "args": {"a": 2, "b": 3}})
    )
    assert result["status"] == "success"
    assert result["func_return"] == "5"
    assert result["stdout"] == ["adding\n"]


async def test_env_vars_reach_the_tool_and_nothing_else_does(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLEEPTIME_ANTHROPIC_API_KEY", "sk-ant-server")
    source = "import os\ndef env() -> str:\n    return ' '.join(sorted(os.environ))\n"
    body = {"source_code": source, "args": {}, "env_vars": {"TOOL_KEY": "k"}}
    result = await ok(client.post("/v1/tools/run", json=body))
    names = result["func_return"].split()
    assert "TOOL_KEY" in names
    assert "SLEEPTIME_ANTHROPIC_API_KEY" not in names


async def test_a_failing_tool_is_an_error_result(client: httpx.AsyncClient) -> None:
    source = "def broken():\n    raise KeyError('missing')\n"
    result = await ok(client.post("/v1/tools/run", json={"source_code": source, "args": {}}))
    assert result["status"] == "error"
    assert result["func_return"] is None
    assert result["stderr"][-1] == "Error executing function broken: KeyError: 'missing'"
    assert any("Traceback" in part for part in result["stderr"])


async def test_the_function_is_named_or_the_last_one(client: httpx.AsyncClient) -> None:
    source = "def helper():\n    return 'helper'\n\ndef main():\n    return 'main'\n"
    last = await ok(client.post("/v1/tools/run", json={"source_code": source, "args": {}}))
    assert last["func_return"] == "main"
    named = {"source_code": source, "args": {}, "name": "helper"}
    assert (await ok(client.post("/v1/tools/run", json=named)))["func_return"] == "helper"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source_code": "def f(:\n", "args": {}}, "not valid Python"),
        ({"source_code": "x = 1\n", "args": {}}, "defines no top-level function"),
        ({"source_code": ADD, "args": {}, "name": "sub"}, "no top-level function named 'sub'"),
        ({"source_code": ADD, "args": {}, "source_type": "typescript"}, "only python"),
    ],
)
async def test_bad_source_is_a_400_naming_the_problem(
    client: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    response = await client.post("/v1/tools/run", json=body)
    assert response.status_code == 400
    assert message in response.text


async def test_requirements_need_the_install_setting(client: httpx.AsyncClient) -> None:
    body = {"source_code": ADD, "args": {"a": 1, "b": 1}, "pip_requirements": [{"name": "six"}]}
    result = await ok(client.post("/v1/tools/run", json=body))
    assert result["status"] == "error"
    assert "SLEEPTIME_TOOL_PIP_INSTALL=true" in result["stderr"][-1]
    assert "six" in result["stderr"][-1]


def _wheel(directory: Path, name: str, version: str, module: str) -> Path:
    """A minimal pure-Python wheel, written by hand (no network, no build tools)."""
    dist = f"{name}-{version}"
    files = {
        f"{name}.py": module,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


async def test_requirements_install_once_into_a_cached_environment(
    make_client: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "sleeptimehelper", "1.0", "def shout(s):\n    return s.upper() + '!'\n")
    # The installer finds it there, and never looks at the network.
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    for prefix in ("UV", "PIP"):
        monkeypatch.setenv(f"{prefix}_FIND_LINKS", str(wheels))
    venvs = tmp_path / "venvs"
    venvs.mkdir()
    client = await make_client(tool_pip_install=True, tool_venv_dir=str(venvs))
    source = (
        "import sleeptimehelper\ndef loud(s: str) -> str:\n    return sleeptimehelper.shout(s)\n"
    )
    requirements = [{"name": "sleeptimehelper", "version": "1.0"}]
    body = {"source_code": source, "args": {"s": "hi"}, "pip_requirements": requirements}
    first = await ok(client.post("/v1/tools/run", json=body))
    assert first["status"] == "success", first["stderr"]
    assert first["func_return"] == "HI!"
    built = [p.name for p in venvs.iterdir() if not p.name.startswith(".")]
    assert len(built) == 1
    again = await ok(client.post("/v1/tools/run", json={**body, "args": {"s": "yo"}}))
    assert again["func_return"] == "YO!"
    assert [p.name for p in venvs.iterdir() if not p.name.startswith(".")] == built
