"""Timing helpers and the results table shared by the benchmarks.

Every comparison runs its contenders interleaved (A, B, A, B, ...) after a warm-up, several
times, and takes each one's median, so a noisy neighbour on a shared machine slows both sides
alike instead of skewing one.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


def interleaved(
    contenders: Mapping[str, Callable[[], object]], *, number: int, runs: int = 9
) -> dict[str, float]:
    """Median seconds per call of each contender: ``runs`` interleaved runs of ``number``
    calls each, after one warm-up run of each."""
    timers = {name: timeit.Timer(fn) for name, fn in contenders.items()}
    for timer in timers.values():
        timer.timeit(max(1, number // 4))
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, timer in timers.items():
            samples[name].append(timer.timeit(number) / number)
    return {name: statistics.median(values) for name, values in samples.items()}


def calls_for(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds``."""
    timer = timeit.Timer(fn)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed > 0.02:
            return max(1, int(number * seconds / elapsed))
        number *= 4


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


@dataclass
class Target:
    """One row of the results table: a measured ratio against its anchor and its target."""

    what: str
    ours: str
    anchor: str
    ratio: float
    target: str
    met: bool


@dataclass
class Report:
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, ours: str, anchor: str, ratio: float, target: str,
            met: bool) -> None:
        self.targets.append(Target(what, ours, anchor, ratio, target, met))
        print(f"  -> {what}: {ratio:.2f}× (target {target}) {'met' if met else 'NOT MET'}",
              flush=True)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (readable as plain text too)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])
