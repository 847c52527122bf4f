"""Cold start: ``brokerauth sign`` for a Webull profile (no network) against
``python -c "import webull.core.client"``, each a new process of the same interpreter, both
from a regular (non-editable) install in ``.bench-venv``, as users have them: an editable
install's import hooks run at every interpreter start.

Runs are interleaved (bare interpreter, SDK import, ``brokerauth sign``), after warm-up runs,
and each one's median is taken.  The target compares whole processes, interpreter start
included; the times over a bare interpreter (``python -c pass``) are printed as well.

So is a floor: a process that only imports the standard-library modules signing needs and the
two libraries the design prescribes on that path (attrs for value types, pluggy for the
hooks), running no line of brokerauth.  No ``brokerauth sign`` built on them can start faster.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import Report, ms

#: Whole processes: `brokerauth sign` in at most this share of the SDK import's time.
TARGET = 0.5
#: What the floor imports: the standard library's part of signing a request from a profile
#: (argparse, which the design keeps, and tomllib for the profile), then attrs and pluggy.
DEPENDENCIES = "argparse, tomllib, hashlib, hmac, urllib.parse, datetime, json, attrs, pluggy"
#: The same without attrs: what a ``sign`` path whose value types were plain classes could
#: reach (attrs builds its own validators' classes when imported, and ours at every start).
WITHOUT_ATTRS = DEPENDENCIES.replace(", attrs", "")


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    # The first run's output was checked (and its note shown) before any is timed.
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(report: Report, profiles: Path, env: dict[str, str], quick: bool) -> None:
    print("\n== Cold start: `brokerauth sign` vs `python -c \"import webull.core.client\"`",
          flush=True)
    brokerauth = str(Path(sys.executable).with_name("brokerauth"))
    commands = {
        "bare interpreter": [sys.executable, "-c", "pass"],
        "SDK import": [sys.executable, "-c", "import webull.core.client"],
        "brokerauth sign": [
            brokerauth, "sign", "--profiles", str(profiles), "-p", "bench-webull", "GET",
            "/market-data/stocks/snapshots/list?symbols=AAPL,TSLA&category=US_STOCK",
            "--timestamp", "2024-01-02T03:04:05Z", "--nonce", "7c9e6679",
        ],
        "floor": [sys.executable, "-c", f"import {DEPENDENCIES}"],
        "floor without attrs": [sys.executable, "-c", f"import {WITHOUT_ATTRS}"],
    }
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    first = subprocess.run(commands["brokerauth sign"], env=env, check=True,
                           capture_output=True, text=True)
    assert "x-signature: " in first.stdout, first.stdout
    for line in first.stderr.splitlines():
        print(f"  (brokerauth sign says) {line}")
    for _ in range(3):
        for argv in commands.values():
            _time(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(15 if quick else 40):
        for name, argv in commands.items():
            samples[name].append(_time(argv, env))
    median = {name: statistics.median(values) for name, values in samples.items()}
    bare, sdk, ours = median["bare interpreter"], median["SDK import"], median["brokerauth sign"]
    floor, plain = median["floor"], median["floor without attrs"]
    print(f"  bare interpreter {ms(bare)}, SDK import {ms(sdk)}, brokerauth sign {ms(ours)}")
    print(f"  floor (importing {DEPENDENCIES}, no brokerauth): {ms(floor)}, "
          f"{floor / sdk:.2f}× the SDK import; brokerauth sign is {ms(ours - floor)} over it")
    print(f"  floor without attrs: {ms(plain)}, {plain / sdk:.2f}× the SDK import")
    whole, over_bare = ours / sdk, (ours - bare) / (sdk - bare)
    report.add("cold start of `brokerauth sign` (webull profile), whole process, regular "
               "install", ms(ours), f"`import webull.core.client` {ms(sdk)}", whole,
               f"≤ {TARGET:g}× its time", whole <= TARGET)
    report.notes.append(
        f"Cold start medians of {len(samples['bare interpreter'])} interleaved runs: bare "
        f"interpreter {ms(bare)}, `import webull.core.client` {ms(sdk)}, `brokerauth sign` "
        f"{ms(ours)}; over a bare interpreter: {ms(ours - bare)} against {ms(sdk - bare)}, "
        f"{over_bare:.2f}×. Floor (a process importing only {DEPENDENCIES}): {ms(floor)}, "
        f"{floor / sdk:.2f}× the SDK import, so the target leaves "
        f"{ms(max(TARGET * sdk - floor, 0.0))} for brokerauth itself; without attrs the floor "
        f"is {ms(plain)}, {plain / sdk:.2f}×."
    )
