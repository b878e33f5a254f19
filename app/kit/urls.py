"""The URLs in the settings: the database's, normalised to the drivers this server uses, and
the providers', checked for a shape that can work.

Database URLs are often pasted from elsewhere: ``postgres://`` from a hosting provider or a
Letta deployment, ``postgresql://`` from psql, ``sqlite:///`` from SQLAlchemy's examples.
They name the same database, so they are accepted and rewritten to the async drivers
(``postgresql+asyncpg``, ``sqlite+aiosqlite``), and libpq's ``sslmode`` becomes asyncpg's
``ssl``. Anything else is refused with the two forms to write.
"""

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

EXAMPLES = (
    "write sqlite+aiosqlite:///path/to/sleeptime.db or "
    "postgresql+asyncpg://user:password@host:5432/dbname"
)
_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def normalize_database_url(raw: str) -> str:
    """``raw`` with the driver this server uses; unchanged when it already names it."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError(f"not a database URL: {EXAMPLES}") from None
    driver = _DRIVERS.get(url.get_backend_name())
    if driver is None:
        raise ValueError(f"{url.get_backend_name()!r} databases are not supported: {EXAMPLES}")
    fixed = url.set(drivername=driver)
    if driver == "postgresql+asyncpg":
        fixed = _asyncpg_ssl(fixed)
    if fixed == url:
        return raw.strip()
    return fixed.render_as_string(hide_password=False)


def _asyncpg_ssl(url: URL) -> URL:
    """asyncpg takes libpq's ``sslmode`` values under the name ``ssl``."""
    if "sslmode" not in url.query:
        return url
    query = dict(url.query)
    mode = query.pop("sslmode")
    query.setdefault("ssl", mode)
    return url.set(query=query)


def scheme_of(raw: str) -> str:
    """The part of a URL before ``://``: safe to log (never a password)."""
    return raw.split("://", 1)[0] if "://" in raw else "?"


def check_http_url(raw: str, *, example: str) -> str:
    """``raw`` if it is an http(s) URL with a host; else a ValueError naming the fix."""
    value = raw.strip()
    scheme, sep, rest = value.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if not sep or scheme.lower() not in {"http", "https"} or not host or " " in value:
        raise ValueError(f"must be an http:// or https:// URL like {example}, not {value!r}")
    return value
