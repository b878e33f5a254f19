"""Full-text matching of passages, the one place its SQL differs between the databases:
FTS5 (BM25) on SQLite; on PostgreSQL, a stored ``to_tsvector('english', text)`` column
(``text_search``) with a GIN index, ranked by ``ts_rank``. Both structures are made by the
migrations (0008, 0009) and kept current by the database itself."""

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, table

# Derived structures the migration makes that no model describes (schema comparisons skip them).
SQLITE_TABLES = frozenset(
    {"passages_fts", "passages_fts_data", "passages_fts_idx", "passages_fts_docsize"}
    | {"passages_fts_config"}
)
POSTGRES_INDEXES = frozenset({"ix_passages_fts"})
POSTGRES_COLUMNS = frozenset({"text_search"})
_FTS = table("passages_fts", column("rowid"), column("passages_fts"))
_WORD = re.compile(r"\w+", re.UNICODE)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For schema comparison: leave out the full-text structures."""
    return not (
        (type_ == "table" and name in SQLITE_TABLES)
        or (type_ == "index" and name in POSTGRES_INDEXES)
        or (type_ == "column" and name in POSTGRES_COLUMNS)
    )


def words(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:32]


def ranked(stmt: Select[Any], dialect: str, query_words: list[str]) -> Select[Any]:
    """``stmt`` (over ``passages``) narrowed to passages matching any of the words, best
    first. ``query_words`` must not be empty."""
    if dialect == "sqlite":
        match = " OR ".join(f'"{w}"' for w in query_words)
        return (
            stmt.join(_FTS, _FTS.c.rowid == literal_column("passages.rowid"))
            .where(_FTS.c.passages_fts.op("MATCH")(match))
            .order_by(func.bm25(literal_column("passages_fts")))
        )
    vector: ColumnElement[Any] = literal_column("passages.text_search")
    tsquery = func.to_tsquery(literal_column("'english'"), " | ".join(query_words))
    return stmt.where(vector.op("@@")(tsquery)).order_by(func.ts_rank(vector, tsquery).desc())
