"""``brokerauth demo``: every installed broker's real flow, step by step, against its sandbox.

A plugin describes its walkthrough in its emulator's ``demo_scenario()`` (see
:mod:`brokerauth_sandbox.emulators`); this module runs it with a
manual clock shared by client and sandbox (so "expiry" takes no time), a temporary token store
(nothing is left in the user's folders), and an interaction that approves sandbox logins.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import attrs
from brokerauth.contract.clock import SystemClock

from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.scenario import DemoContext, DemoScenario

if TYPE_CHECKING:
    from brokerauth.engine.pluginhost import PluginHost



@attrs.frozen
class StepResult:
    broker: str
    title: str
    ok: bool
    seconds: float
    detail: str


@contextmanager
def _temporary_home() -> Iterator[Path]:
    saved = {key: os.environ.get(key) for key in ("BROKERAUTH_HOME",)}
    with tempfile.TemporaryDirectory(prefix="brokerauth-demo-") as folder:
        os.environ["BROKERAUTH_HOME"] = folder
        try:
            yield Path(folder)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run_demo(
    host: PluginHost,
    *,
    brokers: list[str] | None = None,
    stream: TextIO,
    verbose: bool = False,
) -> list[StepResult]:
    """Run the scenarios of ``brokers`` (default: every installed broker that has one)."""
    from brokerauth_sandbox.emulators import providers
    from brokerauth_sandbox.server import HeadlessBrowser

    found = providers()
    host.load_all()
    chosen = brokers or sorted(host.brokers)
    results: list[StepResult] = []
    with _temporary_home() as home:
        for broker in chosen:
            host.broker(broker)
            entry_point = found.get(broker)
            provider = None if entry_point is None else entry_point.load()
            scenario = None if provider is None else provider.demo_scenario()
            if provider is None or scenario is None:
                if brokers:
                    results.append(StepResult(broker, "walkthrough", False, 0.0,
                                              "this broker's plugin has no demo"))
                continue
            clock = ManualClock(SystemClock().now())
            sandbox: Any = provider.make_sandbox(clock)
            with sandbox:
                print(f"\n== {scenario.title} — sandbox on {sandbox.base_url} ==", file=stream)
                context = DemoContext(broker, sandbox, clock, host, home / broker,
                                      HeadlessBrowser())
                results.extend(_run_steps(broker, scenario, context, stream, verbose))
    return results


def _run_steps(broker: str, scenario: DemoScenario, context: DemoContext, stream: TextIO,
               verbose: bool) -> list[StepResult]:
    results: list[StepResult] = []
    for number, step in enumerate(scenario.steps, 1):
        started = time.perf_counter()
        try:
            detail = step.run(context)
            ok = True
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if verbose:
                detail += "\n" + traceback.format_exc()
            ok = False
        elapsed = time.perf_counter() - started
        mark = "ok " if ok else "FAIL"
        print(f"  {number:>2}. [{mark}] {step.title}  ({elapsed * 1000:.1f} ms)", file=stream)
        for line in detail.splitlines():
            print(f"        {line}", file=stream)
        results.append(StepResult(broker, step.title, ok, elapsed, detail))
        if not ok:
            skipped = scenario.steps[number:]
            for rest in skipped:
                results.append(StepResult(broker, rest.title, False, 0.0, "skipped"))
            if skipped:
                print(f"        ({len(skipped)} later steps skipped)", file=stream)
            break
    return results


def summary_rows(results: list[StepResult]) -> list[tuple[str, str, str]]:
    by_broker: dict[str, list[StepResult]] = {}
    for result in results:
        by_broker.setdefault(result.broker, []).append(result)
    rows = []
    for broker, items in by_broker.items():
        passed = sum(r.ok for r in items)
        total_ms = sum(r.seconds for r in items) * 1000
        rows.append((broker, f"{passed}/{len(items)}", f"{total_ms:.0f} ms"))
    return rows


def results_json(results: list[StepResult]) -> list[Mapping[str, Any]]:
    return [attrs.asdict(r) for r in results]
