"""The packages around the turn are layered: a lower one never imports a higher one, so no
two of them import each other; and they write SQL only in their repositories. Read from the
source with ``ast``; a failure lists the offending import lines or modules."""

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
# Lowest first: each may import those before it, never those after it.
LAYERS = ("runs", "messages", "engine", "streaming", "turns", "sleeptime")


def _imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> ``file:line -> module`` for every import
    from one ``app`` package into another."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP).parts
        if len(parts) < 2:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                names = module.split(".")
                if names[0] == "app" and len(names) > 1 and names[1] != parts[0]:
                    where = f"app/{'/'.join(parts)}:{node.lineno} -> {module}"
                    edges[(parts[0], names[1])].append(where)
    return edges


EDGES = _imports()


PAIRS = list(itertools.combinations(LAYERS, 2))


def test_the_scan_sees_the_packages() -> None:
    assert EDGES[("turns", "runs")], "the scan found no import of runs from turns"
    assert {p.name for p in APP.iterdir() if p.is_dir()} >= set(LAYERS)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_no_two_turn_packages_import_each_other(a: str, b: str) -> None:
    down, up = EDGES.get((a, b), []), EDGES.get((b, a), [])
    assert not (down and up), f"{a} and {b} import each other:\n" + "\n".join(down + up)


@pytest.mark.parametrize(("lower", "higher"), PAIRS)
def test_a_lower_package_never_imports_a_higher_one(lower: str, higher: str) -> None:
    found = EDGES.get((lower, higher), [])
    assert not found, f"{lower} imports {higher}, above it:\n" + "\n".join(found)


# What builds a statement: a module that imports any of these from SQLAlchemy writes SQL.
SQL_BUILDERS = frozenset(
    {"select", "insert", "update", "delete", "text", "func", "exists", "union_all", "case"}
    | {"literal", "literal_column", "null", "and_", "or_", "bindparam", "table", "column"}
)


def _writes_sql(path: Path) -> list[str]:
    """The SQL-building names ``path`` imports from SQLAlchemy, unless it is a repository:
    a ``repository.py``, a ``models.py`` (index predicates) or a module defining a class on
    the shared ``Repository`` base."""
    tree = ast.parse(path.read_text(), str(path))
    if path.name in {"repository.py", "models.py"}:
        return []
    bases = {
        base.id
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for base in node.bases
        if isinstance(base, ast.Name)
    }
    if "Repository" in bases:
        return []
    return sorted(
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name in SQL_BUILDERS
    )


@pytest.mark.parametrize("package", LAYERS)
def test_the_turn_packages_write_sql_only_in_repositories(package: str) -> None:
    found = {
        str(path.relative_to(APP)): names
        for path in sorted((APP / package).rglob("*.py"))
        if (names := _writes_sql(path))
    }
    assert not found, f"SQL written outside a repository: {found}"


def test_the_sql_scan_sees_sql_written_elsewhere() -> None:
    """The operator CLI's reads are outside the turn packages and not a repository: the scan
    finds them; the runs repository's own statements are allowed."""
    assert "select" in _writes_sql(APP / "admin" / "queries.py")
    assert not _writes_sql(APP / "runs" / "repository.py")
