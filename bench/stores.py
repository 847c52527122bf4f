"""The token stores' figures: a Redis store token read against a raw redis-py read of the same
entry, and 8 processes x 8 threads on one expired token (Redis store, file store) against one
uncontended refresh.

Run in the project's main environment, which holds brokerauth-redis and redis-py
(``.bench-venv`` has neither)::

    .venv/bin/python bench/stores.py [--quick]

``run(report, quick)`` (called by ``bench/run.py``) does that in a child process when the
running interpreter lacks them, and adds the child's rows to the report.  Figures, each with
its target:

1. Redis store token read (the plugin's ``load_token``: one HMGET, the entry opened and the
   token decoded; no encryption_key, a loopback server) against a raw redis-py ``HGET`` of the
   same entry's value, interleaved: ratio of the medians <= 1.3x.
2. 8 processes x 8 threads, each thread asking its session for the token
   (``TokenManager.current()``) at the same instant, the stored token expired: the time until
   the last of the 64 callers holds the new token, against the time one caller alone takes for
   the same refresh (same store, same server, same spawned-process harness), rounds of the two
   interleaved, medians: <= 2x, and exactly one refresh per round.  Redis store, then file store.
   Every caller process holds the expired token in memory when its round starts (as a running
   process does), has refreshed once before on a token of its own (a first refresh pays
   imports and set-up), and connects anew to the token endpoint, as the lone caller does.
3. A note, not a target: the same shape with no brokerauth at all (the threads woken at one
   instant, one process holding a file lock for the lone refresh's time, the others woken by
   its release, each reading a small file once), against the same alone: the share of the
   fleet rows' ratio that is the machine waking 64 threads in 8 processes.

A real redis-server on a free loopback port, stopped at the end whatever happens; the refresh
is answered by the bearer double's sandbox (rotating refresh tokens, a refresh count) over real
HTTP on loopback.  No token is printed.  Exits 1 when a target is not met.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
READ_RATIO = 1.3
FLEET_RATIO = 2.0
PROCESSES = 8
THREADS = 8
REDIS_PATHS = ("/usr/bin/redis-server", "/usr/sbin/redis-server")


# -- a redis-server of our own -----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server on 127.0.0.1, no persistence, in ``folder``; its URL.  Stopped on the
    way out whatever happens."""
    import redis

    binary = shutil.which("redis-server") or next(
        (p for p in REDIS_PATHS if Path(p).exists()), None)
    if binary is None:
        raise RuntimeError("redis-server is not installed: `apt-get install redis-server`")
    folder.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        port = _free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder), "--logfile",
             str(folder / "redis.log"), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2,
                             socket_connect_timeout=2)
        try:
            deadline = time.monotonic() + 10
            up = False
            while time.monotonic() < deadline and process.poll() is None:
                with contextlib.suppress(redis.exceptions.ConnectionError):
                    if client.ping():
                        up = True
                        break
                time.sleep(0.01)
            if up:
                try:
                    yield f"redis://127.0.0.1:{port}/0"
                finally:
                    client.close()
                    _stop(process)
                return
        finally:
            client.close()
        _stop(process)  # the port was taken between the probe and the bind: again
    raise RuntimeError(f"redis-server did not start; see {folder / 'redis.log'}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# -- the rows ------------------------------------------------------------------------------
class Rows:
    """What this module measured: rows for common.Report (or printed, standalone)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def add(self, what: str, ours: str, anchor: str, ratio: float, target: str,
            met: bool) -> None:
        self.rows.append({"what": what, "ours": ours, "anchor": anchor, "ratio": ratio,
                          "target": target, "met": met})
        print(f"  -> {what}: {ratio:.2f}× (target {target}) {'met' if met else 'NOT MET'}",
              flush=True)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


# -- 1: a token read -----------------------------------------------------------------------
def token_read(rows: Rows, url: str, quick: bool) -> None:
    import redis
    from brokerauth.contract.tokens import Token, TokenKey
    from brokerauth_redis.options import RedisStoreOptions
    from brokerauth_redis.plugin import RedisPlugin
    from brokerauth_redis.store import key_names

    print("\n== Redis store: a token read against a raw redis-py read of the same entry",
          flush=True)
    options = RedisStoreOptions(url=url)
    plugin = RedisPlugin()
    key = TokenKey("bench-read", "default")
    now = datetime.now(UTC)
    plugin.store_token("redis", key, Token(
        access_token=secrets.token_urlsafe(32), refresh_token=secrets.token_urlsafe(32),
        broker="bearer_double", issued_at=now, expires_at=now + timedelta(hours=1),
        refresh_expires_at=now + timedelta(days=30), identity="default",
        extra={"client": "bench"}), options)
    name = key_names(options.key_prefix, key).token
    raw = redis.Redis.from_url(url)
    assert raw.hget(name, "v")
    loaded = plugin.load_token("redis", key, options)
    assert loaded is not None

    def ours() -> object:
        return plugin.load_token("redis", key, options)

    def anchor() -> object:
        return raw.hget(name, "v")

    number = 500 if quick else 2000
    runs = 9 if quick else 21
    timers = {"ours": timeit.Timer(ours), "raw": timeit.Timer(anchor)}
    for timer in timers.values():
        timer.timeit(number // 4)
    samples: dict[str, list[float]] = {"ours": [], "raw": []}
    for run in range(runs):
        order = ("ours", "raw") if run % 2 == 0 else ("raw", "ours")
        for which in order:
            samples[which].append(timers[which].timeit(number) / number)
    mine, theirs = statistics.median(samples["ours"]), statistics.median(samples["raw"])
    ratio = mine / theirs
    decode = _decode_share(plugin, key, options, name, raw)
    print(f"  load_token {_us(mine)}, raw HGET {_us(theirs)}; {decode}", flush=True)
    rows.add("Redis store token read (load_token, clear, loopback) vs raw redis-py HGET of "
             "the same entry", _us(mine), f"raw HGET {_us(theirs)}", ratio,
             f"≤ {READ_RATIO:g}×", ratio <= READ_RATIO)
    rows.notes.append(f"Redis token read: {decode}")
    plugin.close()
    raw.close()


def _decode_share(plugin: Any, key: Any, options: Any, name: str, raw: Any) -> str:
    """How much of a read is opening the entry (the envelope and the token decoder)."""
    from brokerauth.toolkit.envelope import clear_number, open_entry

    store = plugin.store_for(options)
    value, generation, fence = raw.hmget(name, "v", "g", "f")

    def opening() -> object:
        return open_entry(value, key, name, None, clear_generation=clear_number(generation),
                          clear_fence=clear_number(fence), source=store._source(
                              store_names(store, key)), key_source="", store="redis",
                          where="Redis")

    number = 5000
    opening()
    took = min(timeit.Timer(opening).repeat(5, number)) / number
    return f"opening the entry (envelope + token decoder) {_us(took)} of it"


def store_names(store: Any, key: Any) -> Any:
    from brokerauth_redis.store import key_names

    return key_names(store.options.key_prefix, key)


# -- 2: a fleet on one expired token ---------------------------------------------------------
def _caller(profile: Any, env: dict[str, str], threads: int, ready: Any, orders: Any,
            results: Any) -> None:
    """(In a spawned child.)  One session; each round: hold the stored token, which the
    parent has just made expired (as a running process holds the token that expires), start
    ``threads`` threads at the wall-clock time the parent gives, each asking for the token;
    report each thread's seconds from that time to holding a token it did not hold before."""
    os.environ.update(env)
    import brokerauth

    # Warm up the refresh path once in each process, on a token of its own: which process
    # refreshes in a round is chance, and a first refresh pays imports and set-up the lone
    # caller paid once, in the warm-up round.
    with brokerauth.session(profile, user=f"warm-up-{os.getpid()}") as warm:
        first = warm.tokens.current()
        assert first is not None
        warm.binding.save(first.replace(expires_at=first.issued_at))
        warm.tokens.forget()
        warm.tokens.current()
    session = brokerauth.session(profile)
    manager = session.tokens
    ready.put(os.getpid())
    while True:
        order = orders.get(timeout=600)
        if order is None:
            break
        go, old = order
        expired = session.binding.load()
        if expired is not None:
            manager._set(expired)  # what the process held when the token expired
        start = threading.Event()
        served: list[float] = []
        failed: list[str] = []
        guard = threading.Lock()

        def call() -> None:
            start.wait()  # noqa: B023
            try:
                token = manager.current()
                took = time.time() - go  # noqa: B023
                if token is None or token.access_token == old:  # noqa: B023
                    raise RuntimeError("not served a new token")
                with guard:  # noqa: B023
                    served.append(took)  # noqa: B023
            except Exception as exc:
                with guard:  # noqa: B023
                    failed.append(type(exc).__name__)  # noqa: B023

        _run_at(go, start, [threading.Thread(target=call) for _ in range(threads)])
        results.put((served, failed))
    session.close()


def _run_at(go: float, start: threading.Event, workers: list[threading.Thread]) -> None:
    """Start ``workers``, let them go at the wall-clock time ``go`` (``start`` set), and wait
    for them."""
    for worker in workers:
        worker.start()
    time.sleep(max(0.0, go - time.time()))
    start.set()
    for worker in workers:
        worker.join(timeout=120)


class _Spawned:
    """``processes`` spawned children running ``target(*args, ready, orders, results)``, each
    with an order queue of its own, kept alive across rounds."""

    def __init__(self, processes: int, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.ready, self.results = context.Queue(), context.Queue()
        self.orders = [context.Queue() for _ in range(processes)]
        self.children = [
            context.Process(target=target, args=(*args, self.ready, orders, self.results),
                            daemon=True)
            for orders in self.orders
        ]
        for child in self.children:
            child.start()
        for _ in self.children:
            self.ready.get(timeout=120)

    def close(self) -> None:
        for orders in self.orders:
            orders.put(None)
        for child in self.children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
                child.join(timeout=10)


class Fleet(_Spawned):
    """``processes`` spawned callers of ``threads`` threads each, kept alive across rounds."""

    def __init__(self, profile: Any, processes: int, threads: int) -> None:
        super().__init__(processes, _caller, profile, {}, threads)

    def round(self, old: str) -> tuple[list[float], list[str]]:
        go = time.time() + 0.3
        for orders in self.orders:
            orders.put((go, old))
        served: list[float] = []
        failed: list[str] = []
        for _ in self.children:
            s, f = self.results.get(timeout=120)
            served += s
            failed += f
        return served, failed


def _floor_caller(threads: int, lock_file: str, ready: Any, orders: Any,
                  results: Any) -> None:
    """(In a spawned child.)  The fleet row's shape with no brokerauth at all: each round,
    ``threads`` threads start at the parent's wall-clock time; in the refreshing process one
    holds an OS file lock for the parent's ``hold`` seconds (sleeping: a refresh waits on its
    server), writes a small file and unlocks; in every other process one thread blocks in
    ``flock`` until then and reads the file once, and the others wait on an Event it sets.
    Reports each thread's seconds from that time to being served."""
    import fcntl

    ready.put(os.getpid())
    while True:
        order = orders.get(timeout=600)
        if order is None:
            break
        go, refreshing, hold = order
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        if refreshing:
            fcntl.flock(fd, fcntl.LOCK_EX)
        start, landed = threading.Event(), threading.Event()
        served: list[float] = []
        guard = threading.Lock()

        def first() -> None:
            start.wait()  # noqa: B023
            if refreshing:  # noqa: B023
                time.sleep(hold)  # noqa: B023
                os.pwrite(fd, b'{"access_token": "%d"}' % time.time_ns(), 0)  # noqa: B023
                fcntl.flock(fd, fcntl.LOCK_UN)  # noqa: B023
            else:
                fcntl.flock(fd, fcntl.LOCK_SH)  # noqa: B023
                fcntl.flock(fd, fcntl.LOCK_UN)  # noqa: B023
            os.pread(fd, 256, 0)  # noqa: B023
            landed.set()  # noqa: B023
            with guard:  # noqa: B023
                served.append(time.time() - go)  # noqa: B023

        def other() -> None:
            start.wait()  # noqa: B023
            landed.wait(60)  # noqa: B023
            with guard:  # noqa: B023
                served.append(time.time() - go)  # noqa: B023

        _run_at(go, start, [threading.Thread(target=first)]
                + [threading.Thread(target=other) for _ in range(threads - 1)])
        os.close(fd)
        results.put(served)


class FloorFleet(_Spawned):
    """``processes`` spawned :func:`_floor_caller` children, kept alive across rounds."""

    def __init__(self, processes: int, threads: int, lock_file: Path) -> None:
        super().__init__(processes, _floor_caller, threads, str(lock_file))

    def round(self, hold: float) -> float:
        go = time.time() + 0.3
        for number, orders in enumerate(self.orders):
            orders.put((go, number == 0, hold))
        served: list[float] = []
        for _ in self.children:
            served += self.results.get(timeout=120)
        return max(served)


def scheduling_floor(rows: Rows, folder: Path, hold: float, rounds: int) -> None:
    """What the fleet rows' ratio is on this machine with no brokerauth at all (see
    :func:`_floor_caller`), the lone caller's refresh taken as ``hold``: a note, not a
    target, so that a fleet row is read against what waking the crowd itself costs."""
    print(f"\n== Scheduling floor: {PROCESSES} processes x {THREADS} threads woken at one "
          f"instant, one holding a file lock for {_ms(hold)}, the others woken by its "
          "release, against the same alone", flush=True)
    crowd = alone = None
    figures: dict[str, list[float]] = {"crowd": [], "alone": []}
    try:
        crowd = FloorFleet(PROCESSES, THREADS, folder / "floor-crowd.lock")
        alone = FloorFleet(1, 1, folder / "floor-alone.lock")
        for run in range(rounds + 1):  # round 0 is a warm-up of both
            for which in (("crowd", "alone") if run % 2 else ("alone", "crowd")):
                took = (crowd if which == "crowd" else alone).round(hold)
                if run:
                    figures[which].append(took)
    finally:
        for one in (crowd, alone):
            if one is not None:
                one.close()
    last, single = statistics.median(figures["crowd"]), statistics.median(figures["alone"])
    note = (f"Scheduling floor of the fleet rows on this machine ({os.cpu_count()} cores): "
            f"with no brokerauth, {PROCESSES} × {THREADS} threads woken at one instant, one "
            f"process holding a file lock for {_ms(hold)} (the lone refresh), the others woken "
            f"by its release and reading a small file once: last served after {_ms(last)} "
            f"against {_ms(single)} alone, {last / single:.2f}×")
    print(f"  {note}", flush=True)
    rows.notes.append(note)


def fleet(rows: Rows, label: str, store: dict[str, Any], rounds: int) -> float:
    import attrs
    import brokerauth
    from brokerauth.contract.clock import SystemClock
    from brokerauth.engine.profiles import Profile
    from brokerauth_sandbox.bearer.sandbox import BearerDoubleSandbox

    callers = PROCESSES * THREADS
    print(f"\n== {label}: {PROCESSES} processes x {THREADS} threads on one expired token, "
          "against one caller alone", flush=True)
    class ClosingDouble(BearerDoubleSandbox):
        """Closes the connection after each token answer: every refresh, in the crowd or
        alone, connects anew, as a process does to a token endpoint it calls once an hour
        (a kept-alive connection would favour the lone caller, which refreshes each round)."""

        def token(self, request: Any) -> Any:
            answer = super().token(request)
            return attrs.evolve(answer, headers=(*answer.headers, ("Connection", "close")))

    double = ClosingDouble(SystemClock())
    double.start()
    crowd = alone = None
    try:
        profile = Profile.from_mapping(f"bench-stores-{label.split()[0].lower()}", {
            "broker": "bearer_double", **double.profile_settings(), "store": store})
        with brokerauth.session(profile) as first:
            binding = first.binding
            first.tokens.current()
            crowd = Fleet(profile, PROCESSES, THREADS)
            alone = Fleet(profile, 1, 1)
            figures: dict[str, list[float]] = {"crowd": [], "alone": []}
            refreshes: list[int] = []
            problems: list[str] = []
            for run in range(rounds + 1):  # round 0 is a warm-up of both
                for which in (("crowd", "alone") if run % 2 else ("alone", "crowd")):
                    token = binding.load()
                    assert token is not None
                    binding.save(token.replace(expires_at=token.issued_at))
                    before = double.refresh_calls
                    served, failed = (crowd if which == "crowd" else alone).round(
                        token.access_token)
                    calls = double.refresh_calls - before
                    expected = callers if which == "crowd" else 1
                    if failed or len(served) != expected:
                        problems.append(f"{which}: {len(served)}/{expected} served, "
                                        f"{failed[:3]}")
                    if run == 0:
                        continue
                    figures[which].append(max(served) if served else float("inf"))
                    if which == "crowd":
                        refreshes.append(calls)
                    elif calls != 1:
                        problems.append(f"alone: {calls} refreshes")
    finally:
        for one in (crowd, alone):
            if one is not None:
                one.close()
        double.stop()
    last, single = statistics.median(figures["crowd"]), statistics.median(figures["alone"])
    ratio = last / single
    print(f"  last of {callers} callers served after {_ms(last)} (rounds: "
          f"{', '.join(_ms(x) for x in figures['crowd'])}); one caller alone {_ms(single)} "
          f"(rounds: {', '.join(_ms(x) for x in figures['alone'])}); refreshes per round "
          f"{refreshes}", flush=True)
    for problem in problems[:5]:
        print(f"  problem: {problem}", flush=True)
    met = ratio <= FLEET_RATIO and all(r == 1 for r in refreshes) and not problems
    rows.add(f"{label}: {PROCESSES} processes × {THREADS} threads on an expired token, last "
             "caller served vs one uncontended refresh (exactly 1 refresh a round)",
             f"{_ms(last)}, {max(refreshes, default=0)} refresh", f"alone {_ms(single)}",
             ratio, f"≤ {FLEET_RATIO:g}×, 1 refresh", met)
    return single


# -- running -----------------------------------------------------------------------------------
def measure(quick: bool) -> Rows:
    from brokerauth_sandbox.bearer import installed  # the bench's double, opted in here

    rows = Rows()
    rounds = 5 if quick else 11
    with tempfile.TemporaryDirectory(prefix="brokerauth-bench-stores-") as tmp, installed():
        folder = Path(tmp)
        os.environ["BROKERAUTH_HOME"] = str(folder / "home")
        with redis_server(folder / "redis") as url:
            token_read(rows, url, quick)
            alone = fleet(rows, "Redis store", {"name": "redis", "url": url}, rounds)
        alone = min(alone, fleet(rows, "file store", {"name": "file",
                                                      "path": str(folder / "tokens")}, rounds))
        scheduling_floor(rows, folder, alone, rounds)
    return rows


def _has_redis() -> bool:
    try:
        import brokerauth_redis  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        return False
    return True


def run(report: Any, quick: bool) -> None:
    """Add this module's rows to ``report`` (a common.Report), measured here when this
    interpreter has brokerauth-redis, else by the main environment's python."""
    print("\n== Token stores (bench/stores.py)", flush=True)
    if _has_redis():
        rows = measure(quick)
    else:
        rows = Rows()
        if not os.access(MAIN_PYTHON, os.X_OK):
            rows.add("token stores (bench/stores.py)", "not run", f"{MAIN_PYTHON} missing",
                     float("inf"), "run `make venv`", False)
        else:
            rows = _in_main_python(quick)
    for row in rows.rows:
        report.targets.append(_target(row))
    report.notes.extend(rows.notes)


def _target(row: dict[str, Any]) -> Any:
    from common import Target

    return Target(row["what"], row["ours"], row["anchor"], row["ratio"], row["target"],
                  row["met"])


def _in_main_python(quick: bool) -> Rows:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "BROKERAUTH_HOME")}
    rows = Rows()
    with tempfile.TemporaryDirectory(prefix="brokerauth-bench-stores-out-") as tmp:
        out = Path(tmp) / "rows.json"
        command = [str(MAIN_PYTHON), str(Path(__file__).resolve()), "--rows", str(out)]
        child = subprocess.Popen(command + (["--quick"] if quick else []), env=env, cwd=ROOT)
        try:
            child.wait(timeout=900 if quick else 2400)
        except subprocess.TimeoutExpired:
            print("the stores' figures took too long: stopping them", flush=True)
            child.send_signal(signal.SIGINT)  # so the script stops its redis-server
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=30)
        if out.exists():
            saved = json.loads(out.read_text())
            rows.rows, rows.notes = saved["rows"], saved["notes"]
    if not rows.rows:
        rows.add("token stores (bench/stores.py)", "failed", "see above", float("inf"),
                 "all rows", False)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and rounds")
    parser.add_argument("--rows", type=Path, help="also write the rows as JSON to this file")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"brokerauth token store benchmark{' (quick)' if args.quick else ''}: Python "
          f"{sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} cores", flush=True)
    failure = ""
    try:
        rows = measure(args.quick)
    except Exception as exc:  # reported, and counted as a target not met
        rows = Rows()
        failure = f"{type(exc).__name__}: {str(exc)[:500]}"
        print(f"\n  the stores' benchmark stopped: {failure}", flush=True)
        rows.add("token stores (bench/stores.py)", "failed", failure, float("inf"),
                 "all rows", False)
    if args.rows is not None:
        args.rows.write_text(json.dumps({"rows": rows.rows, "notes": rows.notes}))
    print("\n== Token store results\n")
    for row in rows.rows:
        print(f"  [{'PASS' if row['met'] else 'FAIL'}] {row['what']}: {row['ratio']:.2f}× "
              f"({row['ours']}; {row['anchor']}; target {row['target']})")
    for note in rows.notes:
        print(f"\n{note}")
    missed = [row["what"] for row in rows.rows if not row["met"]]
    print(f"\ntoken store benchmark finished in {time.perf_counter() - started:.0f} s; "
          + (f"NOT MET: {'; '.join(missed)}" if missed else "every target met"), flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
