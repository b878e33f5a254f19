"""Sandboxes for the tests: bubblewrap (skipped, saying why, only where it is not installed)
and the plain subprocess fallback, with small limits so a hostile tool is stopped fast."""

import os
import shutil
from collections.abc import Callable

import pytest

from app.sandbox.backend import Backend, Limits, Sandbox
from app.sandbox.command import Identity

MB = 1024 * 1024
TEST_LIMITS = Limits(
    cpu_seconds=2,
    memory_bytes=256 * MB,
    file_size_bytes=1 * MB,
    processes=16,
    open_files=64,
    output_bytes=64 * 1024,
    wall_seconds=60.0,  # a failure guard; the wall-clock test sets its own
)
SANDBOX_UID = 65534
AS_ROOT = os.geteuid() == 0


def make_sandbox(backend: Backend) -> Sandbox:
    bwrap = shutil.which("bwrap")
    if backend == Backend.bwrap and bwrap is None:
        pytest.skip("bubblewrap (bwrap) is not installed here; CI installs it")
    return Sandbox(backend, TEST_LIMITS, identity=Identity.current(SANDBOX_UID), bwrap=bwrap)


@pytest.fixture(params=[Backend.bwrap, Backend.subprocess], ids=["bwrap", "subprocess"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return make_sandbox(request.param)


@pytest.fixture
def bwrap_sandbox() -> Sandbox:
    return make_sandbox(Backend.bwrap)


def limits(**changes: object) -> Limits:
    fields = {name: getattr(TEST_LIMITS, name) for name in Limits.__dataclass_fields__}
    return Limits(**{**fields, **changes})  # type: ignore[arg-type]


Checker = Callable[[Sandbox], None]
