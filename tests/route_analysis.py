"""FastAPI's analysis of a route, done once per test process instead of once per app.

FastAPI (0.165) builds an included router's routes for an app on the app's first request:
for every route it reads the endpoint's signature and builds a pydantic adapter per
parameter and for the response model, about a fifth of a second for this server's routes.
A server pays that once; the suite builds an app per test and paid it on every one, for most
of its time.

The analysis depends only on the route's path, its endpoint, its dependencies and its
response model, the same objects in every app the suite builds (the routers are
module-level): so it is kept by those. What it builds describes the parameters and the
response and is never changed afterwards; overrides of dependencies are looked up per
request, never stored in it. A route or dependency made per app (a closure) is another key,
analysed afresh, as before.
"""

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from fastapi import params, routing

_analyse_parameters = routing._build_dependant_with_parameterless_dependencies
_create_model_field = routing.create_model_field
_kept: dict[Hashable, Any] = {}


def _once(key: Hashable, build: Callable[[], Any]) -> Any:
    try:
        return _kept[key]
    except KeyError:
        pass
    except TypeError:  # a part that cannot be a key (a Security with a list of scopes)
        return build()
    value = _kept[key] = build()
    return value


def _parameters(
    *, path: str, call: Callable[..., Any], dependencies: Sequence[params.Depends]
) -> Any:
    return _once(
        ("parameters", path, call, tuple(dependencies)),
        lambda: _analyse_parameters(path=path, call=call, dependencies=dependencies),
    )


def _response_field(*, name: str, type_: Any, mode: str) -> Any:
    """How ``routing`` calls it: for a route's response and stream item models."""
    return _once(
        ("field", name, type_, mode),
        lambda: _create_model_field(name=name, type_=type_, mode=mode),
    )


def install() -> None:
    routing._build_dependant_with_parameterless_dependencies = _parameters
    routing.create_model_field = _response_field
