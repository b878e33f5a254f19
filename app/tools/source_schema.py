"""The JSON schema of a tool written in Python, read from its source without running it.

The source is parsed, never executed: the tool's function is the top-level function named
like the tool (when a name is asked for) or else the last one defined. Its annotations map
to JSON schema types the way Letta maps them; its Google-style docstring gives the tool's
description and each parameter's description, which every parameter must have. ``self`` and
``agent_state`` (which the sandbox injects) are not parameters the model sees. A parameter
with a default, or whose type is optional, is not required.

Supported annotations: ``str``, ``int``, ``float``, ``bool``, ``None``; ``list``/``List``
(with or without an item type); bare ``dict``/``Dict``; fixed-length ``tuple``/``Tuple``;
``Optional[X]``, ``Union[X, None]``, ``X | None``; ``Literal[...]``; ``Annotated[X, ...]``;
quoted annotations; and Pydantic models defined in the same source (``class M(BaseModel)``
whose fields are annotated and described with ``Field(description=...)``). Anything else is
refused with a message naming it.
"""

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docstring_parser import DocstringStyle, parse

from app.kit.errors import BadRequest

EXCLUDED_PARAMETERS = frozenset({"self", "agent_state"})
NO_DESCRIPTION = "No description available"

_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_PREFIXES = ("typing.", "typing_extensions.", "t.", "builtins.", "pydantic.")


class SchemaError(BadRequest):
    """The source does not define a tool whose schema can be derived."""


@dataclass(frozen=True, slots=True)
class _Source:
    models: Mapping[str, ast.ClassDef]


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base is not None else None
    return None


def _plain(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _unsupported(node: ast.expr, why: str = "") -> SchemaError:
    text = ast.unparse(node)
    return SchemaError(f"Unsupported type annotation '{text}'{': ' + why if why else ''}")


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _quoted(node: ast.expr) -> ast.expr:
    """The annotation a string annotation stands for."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return ast.parse(node.value, mode="eval").body
        except SyntaxError:
            raise _unsupported(node, "not a valid type expression") from None
    return node


def _union_members(node: ast.expr) -> list[ast.expr] | None:
    """The members of ``A | B`` or ``Union[A, B]`` / ``Optional[A]``, else None."""
    node = _quoted(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left = _union_members(node.left) or [node.left]
        right = _union_members(node.right) or [node.right]
        return left + right
    if isinstance(node, ast.Subscript):
        origin = _dotted(node.value)
        if origin is not None and _plain(origin) in ("Union", "Optional"):
            args = _subscript_args(node)
            return args + ([ast.Constant(value=None)] if _plain(origin) == "Optional" else [])
    return None


def _subscript_args(node: ast.Subscript) -> list[ast.expr]:
    inner = node.slice
    return list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]


def is_optional(node: ast.expr) -> bool:
    members = _union_members(node)
    return members is not None and any(_is_none(_quoted(m)) for m in members)


def _literal(node: ast.Subscript) -> dict[str, Any]:
    values: list[Any] = []
    for arg in _subscript_args(node):
        if not isinstance(arg, ast.Constant) or arg.value is None:
            raise _unsupported(node, "Literal values must be constants")
        values.append(arg.value)
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        kind = "boolean"
    elif kinds == {int}:
        kind = "integer"
    elif kinds <= {int, float} and kinds:
        kind = "number"
    else:
        kind = "string"
    return {"type": kind, "enum": values}


def _type(node: ast.expr, source: _Source, seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON schema of one annotation."""
    node = _quoted(node)
    members = _union_members(node)
    if members is not None:
        kept = [m for m in members if not _is_none(_quoted(m))]
        if len(kept) != 1:
            raise _unsupported(node, "unions other than Optional[X] are not supported")
        return _type(kept[0], source, seen)
    if _is_none(node):
        return {"type": "null"}
    if isinstance(node, ast.Subscript):
        return _generic(node, source, seen)
    name = _dotted(node)
    if name is None:
        raise _unsupported(node)
    return _named(_plain(name), node, source, seen)


def _named(plain: str, node: ast.expr, source: _Source, seen: frozenset[str]) -> dict[str, Any]:
    """The JSON schema of a bare type name."""
    if plain in _SCALARS:
        return {"type": _SCALARS[plain]}
    if plain in ("list", "List"):
        return {"type": "array", "items": {"type": "string"}}
    if plain in ("dict", "Dict"):
        return {"type": "object"}
    if plain in ("tuple", "Tuple"):
        raise _unsupported(node, "a tuple needs its item types")
    if plain in source.models:
        return _model(source.models[plain], source, seen)
    raise _unsupported(node, "it has no JSON schema type")


def _generic(node: ast.Subscript, source: _Source, seen: frozenset[str]) -> dict[str, Any]:
    origin = _dotted(node.value)
    plain = _plain(origin) if origin is not None else ""
    args = _subscript_args(node)
    if plain in ("list", "List", "Sequence", "Iterable"):
        if len(args) != 1:
            raise _unsupported(node, "a list takes one item type")
        return {"type": "array", "items": _type(args[0], source, seen)}
    if plain == "Literal":
        return _literal(node)
    if plain in ("tuple", "Tuple"):
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
            raise _unsupported(node, "variable-length tuples are not supported")
        items = [_type(arg, source, seen) for arg in args]
        return {
            "type": "array",
            "prefixItems": items,
            "minItems": len(items),
            "maxItems": len(items),
        }
    if plain in ("dict", "Dict"):
        raise _unsupported(node, "dictionaries with key and value types are not supported")
    if plain == "Annotated" and args:
        return _type(args[0], source, seen)
    raise _unsupported(node)


def _is_model(node: ast.ClassDef) -> bool:
    return any(_plain(_dotted(base) or "") == "BaseModel" for base in node.bases)


def _field_call(value: ast.expr | None) -> ast.Call | None:
    if isinstance(value, ast.Call) and _plain(_dotted(value.func) or "") == "Field":
        return value
    return None


def _model(node: ast.ClassDef, source: _Source, seen: frozenset[str]) -> dict[str, Any]:
    """A Pydantic model of the source as a JSON schema object (Letta's shape)."""
    if node.name in seen:
        raise SchemaError(f"Model '{node.name}' refers to itself, which is not supported")
    seen = seen | {node.name}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for stmt in node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        field = stmt.target.id
        call = _field_call(stmt.value)
        description: str | None = None
        has_default = stmt.value is not None
        if call is not None:
            for keyword in call.keywords:
                if keyword.arg == "description" and isinstance(keyword.value, ast.Constant):
                    description = str(keyword.value.value)
            given = {k.arg for k in call.keywords}
            first = call.args[0] if call.args else None
            has_default = bool(given & {"default", "default_factory"}) or (
                first is not None and not (isinstance(first, ast.Constant) and first.value is ...)
            )
        if not description:
            raise SchemaError(f"Field '{field}' of model '{node.name}' lacks a description")
        prop = _type(stmt.annotation, source, seen)
        properties[field] = {**prop, "description": description}
        if not has_default:
            required.append(field)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    doc = ast.get_docstring(node)
    if doc:
        schema["description"] = doc
    return schema


def _examples(docstring: str) -> str | None:
    """The ``Examples:`` section of a docstring, as Letta appends it to the description."""
    lines = docstring.strip().splitlines()
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not kept:
            if stripped.startswith("Examples:"):
                kept.append(line)
            continue
        if stripped and not line.startswith(" ") and stripped.endswith(":"):
            break
        kept.append(line)
    return "\n".join(kept).strip() or None


def describe(docstring: str) -> str:
    parsed = parse(docstring, style=DocstringStyle.GOOGLE)
    short, long = parsed.short_description, parsed.long_description
    description = f"{short}\n\n{long}" if short and long else short or long or NO_DESCRIPTION
    examples = _examples(docstring)
    if examples and "Examples:" not in description:
        description = f"{description}\n\n{examples}"
    return description


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _parse(source_code: str) -> ast.Module:
    try:
        return ast.parse(source_code)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        raise SchemaError(f"source_code has a syntax error{where}: {exc.msg}") from None
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise SchemaError(f"source_code cannot be parsed: {exc}") from None


def find_function(tree: ast.Module, name: str | None = None) -> Function:
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not functions:
        raise SchemaError("source_code defines no top-level function")
    if name is not None:
        for function in functions:
            if function.name == name:
                return function
    return functions[-1]


def function_name_and_description(source_code: str, name: str | None = None) -> tuple[str, str]:
    """The tool function's name and its docstring's description."""
    function = find_function(_parse(source_code), name)
    docstring = ast.get_docstring(function)
    return function.name, describe(docstring) if docstring else NO_DESCRIPTION


def derive_json_schema(source_code: str, name: str | None = None) -> dict[str, Any]:
    """``{name, description, parameters}`` of the tool function in ``source_code``."""
    tree = _parse(source_code)
    function = find_function(tree, name)
    models = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef) and _is_model(n)}
    source = _Source(models)
    docstring = ast.get_docstring(function)
    if not docstring:
        raise SchemaError(f"Function '{function.name}' has no docstring")
    documented = {
        p.arg_name: p.description
        for p in parse(docstring, style=DocstringStyle.GOOGLE).params
        if p.description
    }
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    defaulted = {a.arg for a in positional[first_default:]}
    defaulted |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for arg in [*positional, *args.kwonlyargs]:
        if arg.arg in EXCLUDED_PARAMETERS:
            continue
        where = f"Parameter '{arg.arg}' in function '{function.name}'"
        if arg.annotation is None:
            raise SchemaError(f"{where} lacks a type annotation")
        description = documented.get(arg.arg)
        if not description:
            raise SchemaError(f"{where} lacks a description in the docstring")
        try:
            prop = _type(arg.annotation, source)
        except SchemaError as exc:
            raise SchemaError(f"{where}: {exc.message}") from None
        properties[arg.arg] = {**prop, "description": description}
        if arg.arg not in defaulted and not is_optional(arg.annotation):
            required.append(arg.arg)
    return {
        "name": name or function.name,
        "description": describe(docstring),
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def schema_from_args_json_schema(
    source_code: str, args_json_schema: Mapping[str, Any], name: str | None = None
) -> dict[str, Any]:
    """The schema of a tool whose parameters are given as a JSON schema object (Letta's
    ``args_json_schema``), named and described by its function."""
    properties = args_json_schema.get("properties")
    if not isinstance(properties, dict):
        raise SchemaError("args_json_schema must be a JSON schema object with 'properties'")
    required = args_json_schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError("args_json_schema 'required' must be a list of property names")
    function, description = function_name_and_description(source_code, name)
    return {
        "name": name or function,
        "description": description,
        "parameters": {"type": "object", "properties": dict(properties), "required": required},
    }


def check_json_schema(json_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A given ``json_schema``, used as is once it names the tool and its parameters."""
    name = json_schema.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError("json_schema must have a 'name' (a non-empty string)")
    parameters = json_schema.get("parameters")
    if not isinstance(parameters, dict):
        raise SchemaError("json_schema must have 'parameters' (a JSON schema object)")
    description = json_schema.get("description")
    if description is not None and not isinstance(description, str):
        raise SchemaError("json_schema 'description' must be a string")
    return dict(json_schema)
