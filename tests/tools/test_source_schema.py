"""Deriving a tool's JSON schema from Python source without running it."""

from typing import Any

import pytest

from app.tools.source_schema import SchemaError, derive_json_schema


def schema(
    signature: str, args_doc: str, body: str = "    return 'x'", name: str | None = None
) -> dict[str, Any]:
    source = f'''
import os

def {signature}:
    """Do the thing.

    Args:
{args_doc}
    """
{body}
'''
    return derive_json_schema(source, name)


def params(result: dict[str, Any]) -> dict[str, Any]:
    return result["parameters"]["properties"]  # type: ignore[no-any-return]


def test_the_source_is_never_run() -> None:
    source = '''
raise SystemExit("ran")

def f(a: int) -> int:
    """Add.

    Args:
        a: A number.
    """
    raise SystemExit("ran")
'''
    assert derive_json_schema(source)["name"] == "f"


def test_scalars_defaults_and_optional() -> None:
    result = schema(
        "f(a: str, b: int, c: float = 1.0, d: bool = False, e: Optional[int] = None, "
        "g: str | None = None, h: 'int' = 2, *, k: int, m: int = 3)",
        "        a: A.\n        b (int): B.\n        c: C.\n        d: D.\n        e: E.\n"
        "        g: G.\n        h: H.\n        k: K.\n        m: M.",
    )
    assert params(result) == {
        "a": {"type": "string", "description": "A."},
        "b": {"type": "integer", "description": "B."},
        "c": {"type": "number", "description": "C."},
        "d": {"type": "boolean", "description": "D."},
        "e": {"type": "integer", "description": "E."},
        "g": {"type": "string", "description": "G."},
        "h": {"type": "integer", "description": "H."},
        "k": {"type": "integer", "description": "K."},
        "m": {"type": "integer", "description": "M."},
    }
    assert result["parameters"]["required"] == ["a", "b", "k"]


def test_an_optional_parameter_without_default_is_not_required() -> None:
    result = schema("f(a: Optional[str])", "        a: A.")
    assert result["parameters"]["required"] == []


def test_lists_dicts_tuples_and_literals() -> None:
    result = schema(
        "f(a: list[str], b: List[int], c: list, d: dict, e: Dict, t: tuple[int, str], "
        "l: Literal['x', 'y'], n: typing.Literal[1, 2], q: list[list[float]])",
        "        a: A.\n        b: B.\n        c: C.\n        d: D.\n        e: E.\n        t: T.\n"
        "        l: L.\n        n: N.\n        q: Q.",
    )
    p = params(result)
    assert p["a"] == {"type": "array", "items": {"type": "string"}, "description": "A."}
    assert p["b"]["items"] == {"type": "integer"}
    assert p["c"]["items"] == {"type": "string"}
    assert p["d"] == {"type": "object", "description": "D."}
    assert p["e"]["type"] == "object"
    assert p["t"] == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
        "description": "T.",
    }
    assert p["l"] == {"type": "string", "enum": ["x", "y"], "description": "L."}
    assert p["n"] == {"type": "integer", "enum": [1, 2], "description": "N."}
    assert p["q"]["items"] == {"type": "array", "items": {"type": "number"}}


def test_agent_state_and_self_are_not_parameters() -> None:
    result = schema("f(self, a: int, agent_state: 'AgentState')", "        a: A.")
    assert list(params(result)) == ["a"]
    assert result["parameters"]["required"] == ["a"]


def test_description_joins_short_and_long_and_keeps_examples() -> None:
    source = '''
def f(a: int) -> int:
    """Short line.

    A longer explanation
    over two lines.

    Args:
        a: The number.

    Examples:
        f(1) -> 2

    Returns:
        int: The result.
    """
'''
    result = derive_json_schema(source)
    assert result["description"] == (
        "Short line.\n\nA longer explanation\nover two lines.\n\nExamples:\n    f(1) -> 2"
    )


def test_the_last_function_or_the_named_one() -> None:
    source = '''
def helper(x):
    return x

def first(a: int):
    """First.

    Args:
        a: A.
    """

def second():
    """Second."""
'''
    assert derive_json_schema(source)["name"] == "second"
    assert derive_json_schema(source)["parameters"] == {
        "type": "object",
        "properties": {},
        "required": [],
    }
    assert derive_json_schema(source, "first")["description"] == "First."


def test_pydantic_models_of_the_source() -> None:
    source = '''
from pydantic import BaseModel, Field

class Step(BaseModel):
    """One step."""
    name: str = Field(..., description="Its name.")
    weight: float = Field(1.0, description="Its weight.")

def plan(steps: list[Step], first: Step) -> str:
    """Plan.

    Args:
        steps: The steps.
        first: The first step.
    """
'''
    p = params(derive_json_schema(source))
    step = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Its name."},
            "weight": {"type": "number", "description": "Its weight."},
        },
        "required": ["name"],
        "description": "One step.",
    }
    assert p["steps"] == {"type": "array", "items": step, "description": "The steps."}
    assert p["first"] == {**step, "description": "The first step."}


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("f(a: Union[int, str])", "Unsupported type annotation 'Union[int, str]'"),
        ("f(a: int | str)", "Unsupported type annotation 'int | str'"),
        ("f(a: dict[str, int])", "dictionaries with key and value types"),
        ("f(a: tuple[int, ...])", "variable-length tuples"),
        ("f(a: Any)", "Unsupported type annotation 'Any'"),
        ("f(a: os.PathLike)", "Unsupported type annotation 'os.PathLike'"),
        ("f(a: 'not valid(')", "not a valid type expression"),
    ],
)
def test_unsupported_annotations_name_the_parameter_and_type(signature: str, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        schema(signature, "        a: A.")
    assert message in raised.value.message
    assert "Parameter 'a' in function 'f'" in raised.value.message
    assert raised.value.status_code == 400


def test_a_model_field_needs_a_description() -> None:
    source = '''
from pydantic import BaseModel

class Step(BaseModel):
    name: str

def plan(step: Step):
    """Plan.

    Args:
        step: A step.
    """
'''
    with pytest.raises(SchemaError, match="Field 'name' of model 'Step' lacks a description"):
        derive_json_schema(source)
