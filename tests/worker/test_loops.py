"""The loops under the dispatcher and the listener: what counts as a database fault, how they
back off from one, and how a bug stops them."""

import asyncio
import socket

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from app.kit import dialect
from app.worker.loops import Backoff, Loop, LoopCrashedError, Vitals


async def _nothing() -> None:
    return


def _db_error(kind: type[DBAPIError], orig: Exception) -> DBAPIError:
    return kind("SELECT 1", {"secret": "parameter"}, orig)


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server said {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_db_error(OperationalError, Exception("database is locked")), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (socket.gaierror(-2, "Name or service not known"), True),
        (TimeoutError(), True),
        (_db_error(DBAPIError, _PgError("55000")), True),  # ALLOW_CONNECTIONS false
        (_db_error(DBAPIError, _PgError("57P01")), True),  # terminated by an administrator
        (_db_error(DBAPIError, _PgError("08006")), True),
        (_db_error(DBAPIError, _PgError("40P01")), True),  # deadlock
        (asyncpg.exceptions.CannotConnectNowError("starting up"), True),
        (_db_error(IntegrityError, _PgError("23505")), False),
        (_db_error(ProgrammingError, _PgError("42P01")), False),
        (_db_error(DBAPIError, _PgError("22P05")), False),  # a bad value is a bad request
        (ValueError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_what_counts_as_a_database_fault(exc: BaseException, transient: bool) -> None:
    assert dialect.is_transient(exc) is transient


def test_a_failure_is_described_without_the_statement() -> None:
    described = dialect.describe_failure(
        _db_error(OperationalError, Exception("unable to open database file\nmore"))
    )
    assert described == "Exception: unable to open database file"
    assert dialect.describe_failure(TimeoutError()) == "TimeoutError"


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.failed() for _ in range(12)]
    ceilings = [min(1.0, 0.1 * 2**n) for n in range(12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert backoff.reset() == 12 and backoff.failures == 0
    assert len({Backoff(0.1, 1.0).failed() for _ in range(20)}) > 1  # not in lockstep


async def test_a_loop_retries_a_fault_until_it_passes() -> None:
    vitals, stopping = Vitals(), asyncio.Event()
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise _db_error(OperationalError, Exception("database is locked"))
        if calls == 5:
            stopping.set()

    states: list[str] = []

    async def pause() -> None:
        states.append(loop.describe())

    loop = Loop("test", work, pause, vitals, backoff=Backoff(0.001, 0.01), timeout=5)
    await asyncio.wait_for(loop.run(stopping), 30)
    assert calls == 5
    assert states == ["running", "running"]
    assert loop.state == "stopped" and vitals.bug is None


async def test_a_loop_that_hangs_counts_as_a_fault() -> None:
    vitals, stopping = Vitals(), asyncio.Event()
    hang = asyncio.Event()
    seen: list[str] = []

    async def work() -> None:
        if not seen:
            seen.append("hung")
            await hang.wait()
        stopping.set()

    loop = Loop("test", work, _nothing, vitals, backoff=Backoff(0.001, 0.01), timeout=0.05)
    await asyncio.wait_for(loop.run(stopping), 30)
    assert seen == ["hung"] and vitals.bug is None and loop.backoff.failures == 0


async def test_a_bug_stops_the_loop_and_is_recorded() -> None:
    vitals, stopping = Vitals(), asyncio.Event()

    async def work() -> None:
        raise KeyError("no such thing")

    loop = Loop("reaper", work, _nothing, vitals, backoff=Backoff(0.001, 0.01), timeout=5)
    with pytest.raises(LoopCrashedError) as raised:
        await asyncio.wait_for(loop.run(stopping), 30)
    assert isinstance(raised.value.__cause__, KeyError)
    assert vitals.broken.is_set()
    assert vitals.bug == "reaper stopped on a bug: KeyError: 'no such thing'"
    assert vitals.stopped() == ["reaper"]
    assert vitals.states() == {"reaper": "stopped: KeyError: 'no such thing'"}
