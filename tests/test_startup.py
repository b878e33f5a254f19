"""Start-up stays lean: what a server on SQLite never needs is not imported to build the app."""

import asyncio
import sys

CHECK = """
import sys
import app.cli, app.main
app.main.create_app()
loaded = sorted(m for m in ("alembic", "asyncpg") if m in sys.modules)
assert not loaded, f"imported at start-up: {loaded}"
"""


async def test_building_the_app_imports_neither_alembic_nor_asyncpg() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHECK, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
