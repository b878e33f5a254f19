"""Arguments a tool rule fixes for a call (Letta's prefilled arguments): ``args`` of a
``run_first`` rule for the turn's first call, ``child_arg_nodes`` of a
``constrain_child_tools`` rule for the child called right after its tool. They replace what
the model passed for the same keys; the model's other arguments stay."""

import json
from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _fits(value: Any, schema: Mapping[str, Any]) -> bool:
    """A light check of a value against a property's schema: const, enum, union, type."""
    if "const" in schema:
        return bool(value == schema["const"])
    if "enum" in schema:
        return value in schema["enum"]
    unions = [schema[u] for u in ("anyOf", "oneOf") if isinstance(schema.get(u), list)]
    if unions:
        return any(_fits(value, s) for s in unions[0] if isinstance(s, dict))
    kinds = schema.get("type")
    names = [] if kinds is None else kinds if isinstance(kinds, list) else [kinds]
    return not names or any(_of_type(value, str(name)) for name in names)


def _of_type(value: Any, name: str) -> bool:
    allowed = _TYPES.get(name)
    if allowed is None:
        return True  # a type this check does not know: not refused
    return isinstance(value, allowed) and (name == "boolean" or not isinstance(value, bool))


def merged(schema: Mapping[str, Any], arguments: str, fixed: Mapping[str, Any]) -> str:
    """The call's arguments with the rule's fixed ones in; a ValueError names what does not
    fit the tool's parameters."""
    properties = (schema.get("parameters") or {}).get("properties") or {}
    problems = []
    for key, value in fixed.items():
        if key not in properties:
            problems.append(f"unknown argument '{key}'")
        elif not _fits(value, properties[key]):
            problems.append(f"{value!r} does not fit '{key}'")
    if problems:
        raise ValueError("; ".join(problems))
    try:
        given = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        given = {}
    base = given if isinstance(given, dict) else {}
    return json.dumps({**base, **fixed})
