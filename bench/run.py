"""brokerauth's benchmark: every performance target of the quality table, measured against its
anchor in one run, with medians of several interleaved runs after a warm-up.

Run it with ``make bench``: that makes ``.bench-venv`` (the project plus the official Webull
SDK 3.0.4, which is never a dependency of brokerauth) and runs this file there.  Exits 1 when
a target is not met.  ``--quick`` takes fewer samples (for trying things out).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Report, table

WEBULL_KEY = "test_app_key_0123456789abcdef"
WEBULL_SECRET = "test_app_secret_fedcba9876543210"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()} ({sys.executable}); load average {load} "
            f"at start")


def write_profiles(folder: Path, server_url: str, sandbox_url: str) -> Path:
    path = folder / "profiles.toml"
    path.write_text(f"""
[profiles.bench-webull]
broker = "webull"
app_key = {{ env = "BENCH_WEBULL_APP_KEY" }}
app_secret = {{ env = "BENCH_WEBULL_APP_SECRET" }}

[profiles.vectors]
broker = "webull"
app_key = {{ env = "BENCH_WEBULL_APP_KEY" }}
app_secret = {{ env = "BENCH_WEBULL_APP_SECRET" }}

[profiles.bench-session]
broker = "webull"
base_url = "{server_url}"
two_factor = "on"
app_key = {{ env = "BENCH_WEBULL_APP_KEY" }}
app_secret = {{ env = "BENCH_WEBULL_APP_SECRET" }}

[profiles.bench-sandbox]
broker = "webull"
base_url = "{sandbox_url}"
app_key = {{ env = "BROKERAUTH_SANDBOX_WEBULL_APP_KEY" }}
app_secret = {{ env = "BROKERAUTH_SANDBOX_WEBULL_APP_SECRET" }}

[profiles.bench-futu]
broker = "futu"
mode = "api_key"
app_key = {{ env = "BENCH_FUTU_APP_KEY" }}
app_secret = {{ env = "BENCH_FUTU_APP_SECRET" }}
access_token = {{ env = "BENCH_FUTU_ACCESS_TOKEN" }}
""")
    return path


def store_token(profiles: Path) -> None:
    """A fresh 2FA access token for the session profile, in its (temporary) file store."""
    from brokerauth.contract.tokens import Token
    from brokerauth.engine.api import open_binding

    now = datetime.now(UTC)
    binding = open_binding("bench-session", profiles=profiles)
    binding.save(Token(access_token="bench-access-token-0123456789", broker="webull",
                       issued_at=now, expires_at=now + timedelta(days=7)))


ROOT = Path(__file__).resolve().parents[1]
#: The SQL store's figures run in the main environment: brokerauth-sql needs
#: cryptography>=42, which the Webull SDK of this one forbids.
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"


def sql_store(quick: bool) -> bool:
    """Run bench/sqlstore.py with the main environment's python, its output in the report;
    True when every one of its targets is met."""
    print("\n== SQL token store (bench/sqlstore.py, in the main .venv)\n", flush=True)
    if not os.access(MAIN_PYTHON, os.X_OK):
        print(f"cannot run the SQL store's figures: {MAIN_PYTHON} is missing; run `make venv` "
              "(then `make bench` again)", flush=True)
        return False
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "BROKERAUTH_HOME")}
    command = [str(MAIN_PYTHON), str(Path(__file__).with_name("sqlstore.py"))]
    child = subprocess.Popen(command + (["--quick"] if quick else []), env=env, cwd=ROOT)
    try:
        return child.wait(timeout=600 if quick else 2400) == 0
    except subprocess.TimeoutExpired:
        print("the SQL store's figures took too long: stopping them", flush=True)
        # SIGINT first, so the script stops its PostgreSQL server on the way out.
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=30)
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    started = time.perf_counter()
    print("brokerauth benchmark (make bench)")
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)

    with tempfile.TemporaryDirectory(prefix="brokerauth-bench-") as tmp:
        folder = Path(tmp)
        os.environ.update({
            "BROKERAUTH_HOME": str(folder / "home"),
            "BENCH_WEBULL_APP_KEY": WEBULL_KEY,
            "BENCH_WEBULL_APP_SECRET": WEBULL_SECRET,
            "BENCH_FUTU_APP_KEY": "bench-futu-app-key",
            "BENCH_FUTU_APP_SECRET": "bench-futu-app-secret",
            "BENCH_FUTU_ACCESS_TOKEN": "bench-futu-access-token",
        })
        import coldstart
        import registry as registry_bench
        import session as session_bench
        import signing
        import stores as stores_bench
        import tokens
        from brokerauth.engine.api import open_binding, session

        server = session_bench.LoopbackServer()
        sandbox = session_bench.SandboxProcess()
        try:
            os.environ.update(sandbox.info["env"])
            profiles = write_profiles(folder, server.url, sandbox.url)
            store_token(profiles)
            report = Report()
            coldstart.run(report, profiles, dict(os.environ), args.quick)
            signing.run(report, open_binding, profiles, args.quick)
            session_bench.run(report, session, profiles, args.quick)
            tokens.run(report, session, profiles, args.quick)
            registry_bench.run(report, args.quick)
            stores_bench.run(report, args.quick)
        finally:
            sandbox.close()
            server.close()

    print("\n== Results (ratios are brokerauth against its anchor, medians, one run)\n")
    rows = [[t.what, t.ours, t.anchor, f"{t.ratio:.2f}×", t.target, "yes" if t.met else "NO"]
            for t in report.targets]
    print(table(["what", "brokerauth", "anchor", "ratio", "target", "met"], rows))
    print("\nRatios: throughput (anchor time / brokerauth time) for signing against the SDK; "
          "brokerauth time / anchor time otherwise; for token access, how many plain attribute "
          "reads fit in the time of one TokenManager.current() read.")
    for note in report.notes:
        print(f"\n{note}")
    missed = [t.what for t in report.targets if not t.met]
    if not sql_store(args.quick):
        missed.append("the SQL store's figures (see above)")
    print(f"\nfinished in {time.perf_counter() - started:.0f} s; "
          + (f"NOT MET: {'; '.join(missed)}" if missed else "every target met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
