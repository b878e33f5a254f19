"""The benchmark's measurements per server, and how they are printed: a compact table per
database, then one line per target of the hot-path work with the ratio and the target."""

import math
import os
import statistics
import sys
from dataclasses import dataclass, field

from bench_load import Load

LIMIT, SERVICE = "limit", "service"


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: list[float], q: float) -> float:
    return pct(values, q) * 1000


@dataclass
class Side:
    """One server's measurements in one run (latencies in seconds)."""

    sequential: list[float] = field(default_factory=list)
    load: Load = field(default_factory=Load)
    history: list[float] = field(default_factory=list)
    first_byte: list[float] = field(default_factory=list)
    startup: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def history_ends(self) -> tuple[float, float]:
        """Mean turn latency (ms) of the first and of the last 10% of the long history."""
        if not self.history:
            return float("nan"), float("nan")
        tenth = max(1, len(self.history) // 10)
        first, last = self.history[:tenth], self.history[-tenth:]
        return statistics.mean(first) * 1000, statistics.mean(last) * 1000


def _row(label: str, limit: float, service: float, ratio: str = "", fmt: str = ".2f") -> str:
    def cell(value: float) -> str:
        return "-" if math.isnan(value) else format(value, fmt)  # NaN: not measured

    return f"  {label:<30}{cell(limit):>10}{cell(service):>10}  {ratio}"


def div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _ratio(service: float, limit: float) -> str:
    ratio = div(service, limit)
    return "" if math.isnan(ratio) else f"{ratio:.2f}x"


def table(db: str, clients: int, sides: dict[str, Side]) -> None:
    lim, svc = sides[LIMIT], sides[SERVICE]
    out(f"  {db:<30}{LIMIT:>10}{SERVICE:>10}  service/limit")
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        a, b = ms(lim.sequential, q), ms(svc.sequential, q)
        out(_row(f"sequential {name} ms ({len(svc.sequential)} turns)", a, b, _ratio(b, a)))
    out(_row(f"{clients} clients turns/s", lim.load.rate, svc.load.rate,
             _ratio(svc.load.rate, lim.load.rate), ".1f"))  # fmt: skip
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        a, b = ms(lim.load.latencies, q), ms(svc.load.latencies, q)
        out(_row(f"{clients} clients {name} ms", a, b, _ratio(b, a), ".1f"))
    a = div(ms(lim.load.latencies, 0.99), ms(lim.load.latencies, 0.5))
    b = div(ms(svc.load.latencies, 0.99), ms(svc.load.latencies, 0.5))
    out(_row(f"{clients} clients p99/p50", a, b))
    out(_row(f"{clients} clients errors", lim.load.errors, svc.load.errors, "", ".0f"))
    (lf, ll), (sf, sl) = lim.history_ends(), svc.history_ends()
    out(_row(f"history first 10% ms ({len(svc.history)})", lf, sf, _ratio(sf, lf)))
    out(_row("history last 10% ms", ll, sl, _ratio(sl, ll)))
    out(_row("history last/first", div(ll, lf), div(sl, sf)))
    a, b = ms(lim.first_byte, 0.5), ms(svc.first_byte, 0.5)
    out(_row(f"stream first byte p50 ms ({len(svc.first_byte)})", a, b))
    a, b = statistics.median(lim.startup), statistics.median(svc.startup)
    out(_row(f"startup s (median of {len(svc.startup)})", a, b, _ratio(b, a)))
    a, b = statistics.median(lim.rss), statistics.median(svc.rss)
    out(_row("idle RSS MiB", a, b, _ratio(b, a), ".0f"))


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _target(db: str, what: str, value: str, target: str, ok: bool) -> None:
    out(f"  {db:<11}{what:<26}{value:<40}target {target:<18}{_verdict(ok)}")


def targets(db: str, clients: int, sides: dict[str, Side]) -> None:
    """One line per target: the measured ratio (or value) and the target it answers to."""
    lim, svc = sides[LIMIT], sides[SERVICE]
    base = ms(lim.sequential, 0.5)
    p50, p99 = div(ms(svc.sequential, 0.5), base), div(ms(svc.sequential, 0.99), base)
    _target(db, "sequential p50", f"{p50:.2f}x limit p50", "<= 1.5x", p50 <= 1.5)
    _target(db, "sequential p99", f"{p99:.2f}x limit p50", "<= 3x", p99 <= 3)
    rate, errors = div(svc.load.rate, lim.load.rate), svc.load.errors
    _target(db, f"throughput {clients} clients", f"{rate:.2f}x limit, {errors} errors",
            ">= 0.6x, 0 errors", rate >= 0.6 and errors == 0)  # fmt: skip
    cores = os.cpu_count() or 1
    fair = div(ms(svc.load.latencies, 0.99), ms(svc.sequential, 0.5) * clients / cores)
    # The limit's own figure beside it: the load driver, the model and the database share
    # the cores, so neither side reaches 1x on a small machine.
    limit_fair = div(ms(lim.load.latencies, 0.99), base * clients / cores)
    shown = f"{fair:.2f}x seq p50*{clients}/{cores} (limit {limit_fair:.2f}x)"
    _target(db, f"fairness p99 @{clients}", shown, "close to 1x", fair <= 1.5)
    first, last = svc.history_ends()
    flat = div(last, first)
    _target(db, "history flat", f"last/first 10% {flat:.2f}x", "<= 1.1x", flat <= 1.1)
    fb = ms(svc.first_byte, 0.5)
    _target(db, "stream first byte", f"{fb:.2f} ms p50", "<= 5 ms", fb <= 5)
    startup, rss = statistics.median(svc.startup), statistics.median(svc.rss)
    _target(db, "startup", f"{startup:.2f} s", "<= 1.5 s", startup <= 1.5)
    _target(db, "idle RSS", f"{rss:.0f} MiB", "<= 120 MiB", rss <= 120)
